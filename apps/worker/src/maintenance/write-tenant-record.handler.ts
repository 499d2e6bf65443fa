import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, SealedBox, type Logger } from '@ferry/common';
import { AccessKeysRepository, TenantsRepository } from '@ferry/catalog';
import { encodeTenantRecord, TENANT_RECORD_BLOB } from '@ferry/packing';
import { JobName, type TenantPayload } from '@ferry/queue';
import { BlobStore } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';

/**
 * Writes the tenant's current row and access keys, sealed, to its container (`ferry/tenant`), so
 * the container alone can bring the tenant back (catalog rebuild). Enqueued by the console after
 * every change to a tenant; it writes what the catalog says when it runs, so any run is current,
 * and a Blob outage is waited out by retries.
 */
@Injectable()
export class WriteTenantRecordHandler implements JobHandler<JobName.WriteTenantRecord> {
  readonly job = JobName.WriteTenantRecord;
  private readonly box: SealedBox;

  constructor(
    @Inject(FERRY_CONFIG) config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly tenants: TenantsRepository,
    private readonly keys: AccessKeysRepository,
    private readonly blobs: BlobStore,
  ) {
    this.box = new SealedBox(config.masterKey.id, config.masterKey.key.reveal());
  }

  async handle({ tenantId }: TenantPayload): Promise<void> {
    const tenant = await this.tenants.get(tenantId).catch((error: unknown) => {
      if (error instanceof FerryError && error.code === FerryErrorCode.TenantNotFound) return undefined;
      throw error;
    });
    if (!tenant) return; // deleted meanwhile: its container went with it
    const keys = await this.keys.list(tenantId);
    const record = encodeTenantRecord(this.box, {
      format: 1,
      id: tenant.id,
      name: tenant.name,
      quotaBytes: tenant.quotaBytes,
      status: tenant.status,
      leaseExpiresAt: tenant.leaseExpiresAt?.toISOString() ?? null,
      blockReads: tenant.blockReads,
      createdAt: tenant.createdAt.toISOString(),
      accessKeys: keys.map((key) => ({
        accessKeyId: key.accessKeyId,
        secretSealed: key.secretSealed.toString('base64'),
        masterKeyId: key.masterKeyId,
        description: key.description,
        status: key.status,
        createdAt: key.createdAt.toISOString(),
        revokedAt: key.revokedAt?.toISOString() ?? null,
      })),
    });
    await this.blobs.putBuffers(tenant.container, TENANT_RECORD_BLOB, [record]);
    this.logger.debug({ tenantId, keys: keys.length }, 'tenant record written to its container');
  }
}
