import type { Job } from 'bullmq';
import type { JobName, JobPayloads } from '@ferry/queue';

/** One handler per job name; the worker refuses to start if a name has none or several. */
export interface JobHandler<N extends JobName = JobName> {
  readonly job: N;
  handle(payload: JobPayloads[N], job: Job): Promise<void>;
}

export const JOB_HANDLERS = Symbol('JOB_HANDLERS');
