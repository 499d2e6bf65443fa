import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { SealedBox, type Logger } from '@ferry/common';
import { CatalogRestoreRepository, TenantsRepository, type RestoreReport } from '@ferry/catalog';
import { decodeChunkId, readContainer, replayEvents } from '@ferry/packing';
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
    @Inject(FERRY_CONFIG) config: ResolvedConfig,
    @Inject(CONSOLE_LOGGER) private readonly logger: Logger,
    private readonly tenants: TenantsRepository,
    private readonly restore: CatalogRestoreRepository,
    private readonly blobs: BlobStore,
  ) {
    this.box = new SealedBox(config.masterKey.id, config.masterKey.key.reveal());
  }

  async rebuild(tenantId: string): Promise<RebuildReport> {
    const tenant = await this.tenants.get(tenantId);
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
    const result = { ...report, unreadablePacks: snapshot.unreadable };
    this.logger.info({ tenantId, ...result, incomplete: report.incomplete.length, unreadablePacks: snapshot.unreadable.length }, 'tenant catalog rebuilt from its container');
    return result;
  }
}
