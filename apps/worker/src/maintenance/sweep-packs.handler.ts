import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from '@ferry/common';
import { PacksRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';

/** A pack still 'writing' after this long lost its worker between upload and commit. */
export const PACK_ABANDONED_AFTER_MS = 60 * 60 * 1000;

/**
 * Removes packs a worker began and never committed (it died between the upload and the catalog
 * commit; the retried jobs stored their chunks again). Only packs the catalog recorded as being
 * written are touched: a blob no row names is left alone, since after a catalog restored from an
 * older backup such a blob is data that the catalog rebuild needs.
 */
@Injectable()
export class SweepPacksHandler implements JobHandler<JobName.SweepPacks> {
  readonly job = JobName.SweepPacks;

  constructor(
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly packs: PacksRepository,
  ) {}

  async handle(): Promise<void> {
    const removed = await this.packs.abandonStalePacks(PACK_ABANDONED_AFTER_MS);
    if (removed > 0) this.logger.info({ removed }, 'abandoned packs whose upload never committed went to the garbage outbox');
  }
}
