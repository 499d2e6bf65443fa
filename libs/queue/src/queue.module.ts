import { Injectable, Module, type OnModuleDestroy } from '@nestjs/common';
import { Queue, type JobsOptions } from 'bullmq';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { forwardJobId, JOB_QUEUE, JobName, QueueName, type JobPayloads } from './jobs.js';

export interface RedisEndpoint {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
  tls?: object;
  maxRetriesPerRequest: null;
}

export function redisConnection(redisUrl: string): RedisEndpoint {
  const url = new URL(redisUrl);
  return {
    host: url.hostname,
    port: Number(url.port || 6379),
    username: url.username ? decodeURIComponent(url.username) : undefined,
    password: url.password ? decodeURIComponent(url.password) : undefined,
    db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : undefined,
    tls: url.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

const DEFAULT_JOB: JobsOptions = {
  attempts: 1_000_000,
  // 'capped' is the worker's backoffStrategy: exponential from 1 s, at most a minute, retried until it works.
  backoff: { type: 'capped' },
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Typed producer for every queue. Enqueueing is advisory: Postgres stays the source of truth. */
@Injectable()
export class JobQueues implements OnModuleDestroy {
  private readonly queues = new Map<QueueName, Queue>();

  constructor(private readonly config: ResolvedConfig) {
    const connection = redisConnection(config.redisUrl.reveal());
    for (const name of Object.values(QueueName)) {
      this.queues.set(name, new Queue(name, { connection, prefix: config.queuePrefix, defaultJobOptions: DEFAULT_JOB }));
    }
  }

  queue(name: QueueName): Queue {
    const queue = this.queues.get(name);
    if (!queue) throw new Error(`unknown queue ${name}`);
    return queue;
  }

  async add<N extends JobName>(name: N, payload: JobPayloads[N], options: JobsOptions = {}): Promise<void> {
    await this.queue(JOB_QUEUE[name]).add(name, payload, options);
  }

  async forward(tenantId: string, objectId: string): Promise<void> {
    await this.add(JobName.ForwardObject, { tenantId, objectId }, { jobId: forwardJobId(objectId) });
  }

  /**
   * For the reconciler, whose catalog says the object is still staged: makes sure a live job exists.
   * A plain add is ignored while a job with the same id is kept, so a job that failed for good (it
   * stalled too often) is retried, and one that completed without storing the object is replaced.
   */
  async ensureForward(tenantId: string, objectId: string): Promise<'queued' | 'retried' | 'replaced' | 'pending'> {
    const queue = this.queue(QueueName.Forward);
    const job = await queue.getJob(forwardJobId(objectId));
    if (!job) {
      await this.forward(tenantId, objectId);
      return 'queued';
    }
    const state = await job.getState();
    if (state === 'failed') {
      await job.retry('failed');
      return 'retried';
    }
    if (state === 'completed') {
      await job.remove();
      await this.forward(tenantId, objectId);
      return 'replaced';
    }
    return 'pending';
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
  }
}

@Module({
  providers: [{ provide: JobQueues, inject: [FERRY_CONFIG], useFactory: (config: ResolvedConfig) => new JobQueues(config) }],
  exports: [JobQueues],
})
export class QueueModule {}
