import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { ObjectsRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import { Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';

const BATCH = 500;

/**
 * Keeps the spool's operational-recovery cache within its window and size cap, oldest first.
 * Only stored objects are candidates: a staged object's spool file is its only copy.
 */
@Injectable()
export class EvictCacheHandler implements JobHandler<JobName.EvictCache> {
  readonly job = JobName.EvictCache;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly objects: ObjectsRepository,
    private readonly spool: Spool,
  ) {}

  async handle(): Promise<void> {
    let cached = await this.objects.cachedBytes();
    const oldest = new Date(Date.now() - this.config.cache.maxAgeMs);
    for (;;) {
      const candidates = await this.objects.listCached(BATCH);
      let evicted = 0;
      for (const candidate of candidates) {
        if (candidate.storedAt >= oldest && cached <= this.config.cache.maxBytes) return;
        const object = await this.objects.getById(candidate.tenantId, candidate.objectId);
        if (!object?.spool || !(await this.objects.dropSpool(candidate.tenantId, candidate.objectId))) continue;
        for (const segment of object.spool) await this.spool.remove(segment.path);
        cached -= candidate.bytes;
        evicted++;
      }
      if (candidates.length < BATCH || evicted === 0) return;
    }
  }
}
