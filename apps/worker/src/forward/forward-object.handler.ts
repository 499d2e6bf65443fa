import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { objectBlobName, ObjectsRepository, TenantsRepository } from '@ferry/catalog';
import { JobName, type ForwardObjectPayload } from '@ferry/queue';
import { BlobStore, Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';

/**
 * Moves one acknowledged object from the spool to its tenant's container and marks it stored.
 * Idempotent: a retry re-stages the same block ids and commits the same blob; a version deleted or
 * replaced meanwhile leaves no blob behind. (The repackaging engine replaces the plain upload here.)
 */
@Injectable()
export class ForwardObjectHandler implements JobHandler<JobName.ForwardObject> {
  readonly job = JobName.ForwardObject;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly objects: ObjectsRepository,
    private readonly tenants: TenantsRepository,
    private readonly blobs: BlobStore,
    private readonly spool: Spool,
  ) {}

  async handle({ tenantId, objectId }: ForwardObjectPayload): Promise<void> {
    const object = await this.objects.getById(tenantId, objectId);
    if (!object || object.state === 'stored') return;
    const tenant = await this.tenants.get(tenantId).catch((error: unknown) => {
      if (error instanceof FerryError && error.code === FerryErrorCode.TenantNotFound) return undefined;
      throw error;
    });
    if (!tenant) return;
    if (!object.spool) throw new Error(`staged object ${objectId} has no spooled bytes`);
    const blobName = objectBlobName(object.id);
    try {
      await this.blobs.upload(
        tenant.container,
        blobName,
        object.spool.map((segment) => ({ path: this.spool.absolute(segment.path), size: segment.size })),
        { blockBytes: this.config.forward.blockBytes, concurrency: this.config.forward.blockConcurrency },
      );
    } catch (error) {
      // A version deleted mid-upload has lost its spool file: nothing left to forward.
      if (!(await this.objects.getById(tenantId, objectId))) return;
      throw error;
    }
    if (!(await this.objects.markStored(tenantId, objectId, blobName))) {
      await this.blobs.deleteBlob(tenant.container, blobName);
      return;
    }
    this.logger.debug({ tenantId, objectId, bytes: object.size }, 'object forwarded');
  }
}
