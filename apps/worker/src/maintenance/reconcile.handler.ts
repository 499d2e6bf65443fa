import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import type { Logger } from '@ferry/common';
import { ObjectsRepository } from '@ferry/catalog';
import { JobName, JobQueues } from '@ferry/queue';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';

const BATCH = 1000;

/**
 * Postgres, not Redis, says what still has to be forwarded: every staged object older than one
 * interval must have a live job. A job still waiting or running is left alone (fixed job ids); one
 * lost with a Redis flush or restart is recreated, one that failed for good is retried.
 */
@Injectable()
export class ReconcileHandler implements JobHandler<JobName.Reconcile> {
  readonly job = JobName.Reconcile;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly objects: ObjectsRepository,
    private readonly queues: JobQueues,
  ) {}

  async handle(): Promise<void> {
    const olderThan = new Date(Date.now() - this.config.reconcileIntervalMs);
    const staged = await this.objects.listStaged(olderThan, BATCH);
    const revived: string[] = [];
    for (const ref of staged) {
      const outcome = await this.queues.ensureForward(ref.tenantId, ref.objectId);
      if (outcome !== 'pending') revived.push(`${ref.objectId}:${outcome}`);
    }
    if (revived.length > 0) this.logger.info({ count: revived.length, sample: revived.slice(0, 5) }, 'reconciler revived forwarding of staged objects');
  }
}
