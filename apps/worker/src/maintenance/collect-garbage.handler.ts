import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { ChunksRepository, PacksRepository, GarbageRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import { BlobStore, Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';

const BATCH = 500;

/**
 * Forgets chunks no manifest has named for the grace period, then packs left with no chunk (their
 * blobs join the outbox), then drains the garbage outbox: blobs and spool files whose rows are gone.
 * Removing twice is harmless. (Rewriting packs that are only partly live is the prune job's.)
 */
@Injectable()
export class CollectGarbageHandler implements JobHandler<JobName.CollectGarbage> {
  readonly job = JobName.CollectGarbage;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly chunks: ChunksRepository,
    private readonly packs: PacksRepository,
    private readonly garbage: GarbageRepository,
    private readonly blobs: BlobStore,
    private readonly spool: Spool,
  ) {}

  async handle(): Promise<void> {
    const grace = this.config.packing.chunkGraceMs;
    while ((await this.chunks.collectChunks(grace, BATCH)) === BATCH);
    while ((await this.packs.collectEmptyPacks(grace, BATCH)) === BATCH);
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
