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
 * interval is (re-)enqueued. A job that still exists is left alone (fixed job ids), one lost with a
 * Redis flush or restart is recreated.
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
    for (const ref of staged) await this.queues.forward(ref.tenantId, ref.objectId);
    if (staged.length > 0) this.logger.debug({ count: staged.length }, 'reconciler enqueued staged objects');
  }
}
