import { describe, expect, it } from 'vitest';
import { JobName } from '@ferry/queue';
import { JobRegistry } from './job-registry.js';
import type { JobHandler } from './job-handler.js';

const handler = (job: JobName): JobHandler => ({ job, handle: async () => undefined });

describe('JobRegistry', () => {
  it('accepts exactly one handler per job', () => {
    const registry = new JobRegistry(Object.values(JobName).map(handler));
    expect(registry.get(JobName.ForwardObject).job).toBe(JobName.ForwardObject);
  });

  it('refuses a missing handler', () => {
    const handlers = Object.values(JobName).filter((name) => name !== JobName.Reconcile).map(handler);
    expect(() => new JobRegistry(handlers)).toThrow(/reconcile has no handler/);
  });

  it('refuses a duplicate handler', () => {
    const handlers = [...Object.values(JobName).map(handler), handler(JobName.EvictCache)];
    expect(() => new JobRegistry(handlers)).toThrow(/evict-cache has more than one handler/);
  });
});
