import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import type { Logger } from '@ferry/common';
import { cappedBackoff, JOB_QUEUE, JobName, JobQueues, QueueName, redisConnection } from '@ferry/queue';
import { WORKER_LOGGER } from '../worker.tokens.js';
import type { JobHandler } from './job-handler.js';
import { JobRegistry } from './job-registry.js';
import { JOB_HANDLERS } from './job-handler.js';

const MAINTENANCE_EVERY_MS: Record<Exclude<JobName, JobName.ForwardObject | JobName.VerifyTenant | JobName.WriteTenantRecord>, (config: ResolvedConfig) => number> = {
  [JobName.CollectGarbage]: () => 5_000,
  [JobName.Reconcile]: (config) => config.reconcileIntervalMs,
  [JobName.EvictCache]: (config) => Math.min(60_000, config.reconcileIntervalMs),
  [JobName.SweepSpool]: () => 15 * 60_000,
  [JobName.SweepPacks]: () => 15 * 60_000,
  [JobName.FlushEvents]: () => 2_000,
  [JobName.PrunePacks]: () => 10 * 60_000,
};

/** Runs BullMQ workers for every queue and schedules the periodic maintenance jobs. */
@Injectable()
export class WorkerHost implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly registry: JobRegistry;
  private readonly workers: Worker[] = [];
  private scheduleTimer?: NodeJS.Timeout;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    @Inject(JOB_HANDLERS) handlers: JobHandler[],
    private readonly queues: JobQueues,
  ) {
    this.registry = new JobRegistry(handlers);
  }

  async onApplicationBootstrap(): Promise<void> {
    const connection = redisConnection(this.config.redisUrl.reveal());
    const concurrency: Record<QueueName, number> = {
      [QueueName.Forward]: this.config.forward.concurrency,
      [QueueName.Maintenance]: 1,
      [QueueName.Scrub]: 1,
    };
    for (const queue of Object.values(QueueName)) {
      const worker = new Worker(queue, (job: Job) => this.run(job), {
        connection,
        prefix: this.config.queuePrefix,
        concurrency: concurrency[queue],
        settings: { backoffStrategy: (attemptsMade: number) => cappedBackoff(attemptsMade) },
        // Jobs are idempotent, so a job whose worker died is simply run again, however often that
        // happens; a dead worker's jobs are picked up within about 15 s.
        lockDuration: 15_000,
        stalledInterval: 15_000,
        maxStalledCount: 1_000_000,
      });
      worker.on('failed', (job, error) =>
        this.logger.warn({ job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, err: error }, 'job failed; will retry'),
      );
      worker.on('error', (error) => this.logger.error({ err: error }, 'worker error'));
      this.workers.push(worker);
    }
    await this.schedule();
    // Schedules live in Redis: a flush or a new Redis would lose them, and with them the reconciler
    // that recovers everything else. Re-asserting them is idempotent, so it is done periodically.
    this.scheduleTimer = setInterval(() => {
      this.schedule().catch((error: unknown) => this.logger.warn({ err: error }, 'could not re-assert maintenance schedules'));
    }, this.config.reconcileIntervalMs);
    this.scheduleTimer.unref();
    this.logger.info({ queues: Object.values(QueueName) }, 'worker ready');
  }

  /** Before the packing pool and assembler stop: running jobs finish with them. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.scheduleTimer);
    await Promise.all(this.workers.map((worker) => worker.close()));
  }

  private async schedule(): Promise<void> {
    for (const [name, every] of Object.entries(MAINTENANCE_EVERY_MS)) {
      await this.queues
        .queue(JOB_QUEUE[name as JobName])
        .upsertJobScheduler(name, { every: every(this.config) }, { name, data: {}, opts: { attempts: 1, removeOnFail: 100 } });
    }
  }

  private async run(job: Job): Promise<void> {
    await this.registry.get(job.name).handle(job.data as never, job);
  }
}
