import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, tenantContainer, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, SealedBox, type Logger } from '@ferry/common';
import { CatalogRestoreRepository, TenantsRepository, type RestoreReport, type TenantEntity } from '@ferry/catalog';
import { decodeChunkId, decodeTenantRecord, readContainer, replayEvents, TENANT_RECORD_BLOB } from '@ferry/packing';
import { BlobStore } from '@ferry/storage';
import { CONSOLE_LOGGER } from '../console.tokens.js';

export interface RebuildReport extends RestoreReport {
  /** Pack blobs that could not be read, with the reason: their chunks are missing from the catalog. */
  unreadablePacks: { name: string; reason: string }[];
}

/**
 * Rebuilds a tenant's catalog from its container alone (docs/format.md): keys from the keyring,
 * chunk places from every pack's index, buckets and objects from the catalog events replayed in
 * order. For when Postgres is lost; it fills an empty catalog only.
 */
@Injectable()
export class CatalogRebuildService {
  private readonly box: SealedBox;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(CONSOLE_LOGGER) private readonly logger: Logger,
    private readonly tenants: TenantsRepository,
    private readonly restore: CatalogRestoreRepository,
    private readonly blobs: BlobStore,
  ) {
    this.box = new SealedBox(config.masterKey.id, config.masterKey.key.reveal());
  }

  async rebuild(tenantId: string): Promise<RebuildReport & { tenantRestored: boolean }> {
    const existing = await this.tenants.get(tenantId).catch((error: unknown) => {
      if (error instanceof FerryError && error.code === FerryErrorCode.TenantNotFound) return undefined;
      throw error;
    });
    const tenant = existing ?? (await this.restoreTenant(tenantId));
    const snapshot = await readContainer(this.blobs, this.box, tenantId, tenant.container);
    const replayed = replayEvents(snapshot.events);
    const report = await this.restore.restore(tenantId, {
      keys: snapshot.keys,
      packs: snapshot.packs.map((pack) => ({ ...pack, chunks: pack.chunks.map((chunk) => ({ ...chunk, codec: chunk.codec as number })) })),
      buckets: replayed.buckets,
      objects: replayed.objects.map((event) => ({
        id: event.objectId,
        bucket: event.bucket,
        key: event.key,
        versionId: event.versionId,
        size: event.size,
        etag: event.etag,
        contentType: event.contentType,
        headers: event.headers,
        userMetadata: event.userMetadata,
        checksums: event.checksums,
        checksumType: event.checksumType,
        parts: event.parts,
        createdAt: new Date(event.at),
        chunks: event.chunks.map(([id, offset, skip]) => ({ id: decodeChunkId(id), offset, skip: skip ?? 0 })),
      })),
      lastSeq: replayed.lastSeq,
    });
    const result = { ...report, unreadablePacks: snapshot.unreadable, tenantRestored: !existing };
    this.logger.info({ tenantId, ...result, incomplete: report.incomplete.length, unreadablePacks: snapshot.unreadable.length }, 'tenant catalog rebuilt from its container');
    return result;
  }

  /**
   * The tenant row is gone too: its container (named by the id) holds its record, written by the
   * worker after every change to the tenant, with the access keys sealed as the catalog had them.
   */
  private async restoreTenant(tenantId: string): Promise<TenantEntity> {
    const container = tenantContainer(this.config, tenantId);
    const sealed = await this.blobs.readSmall(container, TENANT_RECORD_BLOB);
    if (!sealed) throw new FerryError(FerryErrorCode.TenantNotFound, `no tenant ${tenantId}, and no tenant record in container ${container}`);
    const record = decodeTenantRecord(this.box, tenantId, sealed);
    const restored = await this.tenants.restore(
      {
        id: record.id,
        name: record.name,
        quotaBytes: record.quotaBytes,
        status: record.status,
        leaseExpiresAt: record.leaseExpiresAt ? new Date(record.leaseExpiresAt) : null,
        blockReads: record.blockReads,
        container,
        createdAt: new Date(record.createdAt),
      },
      record.accessKeys.map((key) => ({
        accessKeyId: key.accessKeyId,
        secretSealed: Buffer.from(key.secretSealed, 'base64'),
        masterKeyId: key.masterKeyId,
        description: key.description,
        status: key.status,
        createdAt: new Date(key.createdAt),
        revokedAt: key.revokedAt ? new Date(key.revokedAt) : null,
      })),
    );
    this.logger.info({ tenantId, keys: record.accessKeys.length }, 'tenant row and access keys restored from the container');
    return restored;
  }
}
