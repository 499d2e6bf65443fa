import { Injectable } from '@nestjs/common';
import { GarbageRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import { BlobStore, Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';

const BATCH = 500;

/** Drains the garbage outbox: blobs and spool files whose rows are gone. Removing twice is harmless. */
@Injectable()
export class CollectGarbageHandler implements JobHandler<JobName.CollectGarbage> {
  readonly job = JobName.CollectGarbage;

  constructor(
    private readonly garbage: GarbageRepository,
    private readonly blobs: BlobStore,
    private readonly spool: Spool,
  ) {}

  async handle(): Promise<void> {
    for (;;) {
      const batch = await this.garbage.next(BATCH);
      for (const item of batch) {
        if (item.blobName) await this.blobs.deleteBlob(item.container, item.blobName);
        if (item.spoolPath) await this.spool.remove(item.spoolPath);
        await this.garbage.done(item.id);
      }
      if (batch.length < BATCH) return;
    }
  }
}
