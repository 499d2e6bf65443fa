/** Every queue, job and payload in one place; the worker refuses to start unless each job has one handler. */
export enum QueueName {
  /** Moves acknowledged objects from the spool to the tenant's container. */
  Forward = 'forward',
  /** Housekeeping: garbage removal, reconciling, cache eviction, sweeping orphaned spool files. */
  Maintenance = 'maintenance',
  /** Long scans of one tenant's packs (verify, prune), one at a time, away from housekeeping. */
  Scrub = 'scrub',
}

export enum JobName {
  ForwardObject = 'forward-object',
  CollectGarbage = 'collect-garbage',
  Reconcile = 'reconcile',
  EvictCache = 'evict-cache',
  SweepSpool = 'sweep-spool',
  SweepPacks = 'sweep-packs',
  FlushEvents = 'flush-events',
  VerifyTenant = 'verify-tenant',
  PrunePacks = 'prune-packs',
  /** Writes a tenant's own record (row and access keys, sealed) to its container. */
  WriteTenantRecord = 'write-tenant-record',
}

export interface ForwardObjectPayload {
  tenantId: string;
  objectId: string;
}

export interface VerifyTenantPayload {
  tenantId: string;
  runId: string;
}

export interface TenantPayload {
  tenantId: string;
}

export type EmptyPayload = Record<string, never>;

export interface JobPayloads {
  [JobName.ForwardObject]: ForwardObjectPayload;
  [JobName.CollectGarbage]: EmptyPayload;
  [JobName.Reconcile]: EmptyPayload;
  [JobName.EvictCache]: EmptyPayload;
  [JobName.SweepSpool]: EmptyPayload;
  [JobName.SweepPacks]: EmptyPayload;
  [JobName.FlushEvents]: EmptyPayload;
  [JobName.VerifyTenant]: VerifyTenantPayload;
  [JobName.PrunePacks]: EmptyPayload;
  [JobName.WriteTenantRecord]: TenantPayload;
}

export const JOB_QUEUE: Record<JobName, QueueName> = {
  [JobName.ForwardObject]: QueueName.Forward,
  [JobName.CollectGarbage]: QueueName.Maintenance,
  [JobName.Reconcile]: QueueName.Maintenance,
  [JobName.EvictCache]: QueueName.Maintenance,
  [JobName.SweepSpool]: QueueName.Maintenance,
  [JobName.SweepPacks]: QueueName.Maintenance,
  [JobName.FlushEvents]: QueueName.Maintenance,
  [JobName.VerifyTenant]: QueueName.Scrub,
  [JobName.PrunePacks]: QueueName.Scrub,
  [JobName.WriteTenantRecord]: QueueName.Maintenance,
};

/**
 * Fixed job ids make re-enqueueing harmless: BullMQ ignores an add whose id is already queued, so the
 * gateway and the reconciler can both enqueue the same object.
 */
export const forwardJobId = (objectId: string): string => `forward-${objectId}`;

/** Exponential retry from 1 s, capped at a minute: a Blob outage is waited out, never given up on. */
export function cappedBackoff(attemptsMade: number): number {
  return Math.min(60_000, 1000 * 2 ** Math.max(0, attemptsMade - 1));
}
