import { JobName } from '@ferry/queue';
import type { JobHandler } from './job-handler.js';

/** Checks that every job name has exactly one handler and looks them up by name. */
export class JobRegistry {
  private readonly byName = new Map<JobName, JobHandler>();

  constructor(handlers: JobHandler[]) {
    const problems: string[] = [];
    for (const handler of handlers) {
      if (this.byName.has(handler.job)) problems.push(`job ${handler.job} has more than one handler`);
      this.byName.set(handler.job, handler);
    }
    for (const name of Object.values(JobName)) {
      if (!this.byName.has(name)) problems.push(`job ${name} has no handler`);
    }
    if (problems.length > 0) throw new Error(`worker cannot start: ${problems.join('; ')}`);
  }

  get(name: string): JobHandler {
    const handler = this.byName.get(name as JobName);
    if (!handler) throw new Error(`no handler for job ${name}`);
    return handler;
  }
}
