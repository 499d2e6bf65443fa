import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { UnrecoverableError, Worker } from 'bullmq';
import { DataSource } from 'typeorm';
import { forwardJobId, JobQueues, QueueName, redisConnection } from '@ferry/queue';
import { EvictCacheHandler } from '../../apps/worker/src/maintenance/evict-cache.handler.js';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';
import {
  buildWorkerBundle,
  countQueueKeys,
  downloadBlob,
  flushQueueKeys,
  hurryStalledJobs,
  listBlobs,
  removeDir,
  spawnWorker,
  spoolFiles,
  uncommittedBlocks,
  type WorkerProcess,
} from '../support/faults.js';

const MiB = 1024 * 1024;
const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

interface Row {
  id: string;
  key: string;
  state: 'staged' | 'stored';
  size: string;
  blob_name: string | null;
  spool: { path: string; size: number }[] | null;
}

/** `count` distinct large bodies without generating `count` × size random bytes. */
function distinctBodies(count: number, size: number): Buffer[] {
  const base = randomBytes(size);
  return Array.from({ length: count }, (_, i) => {
    const body = Buffer.from(base);
    // a unique stamp at the start, in the middle and at the end of every block-sized stretch
    for (let offset = 0; offset < size; offset += MiB / 2) randomBytes(16).copy(body, Math.min(offset, size - 16));
    body.writeUInt32BE(i, 0);
    return body;
  });
}

describe('store-and-forward survives worker stops, crashes, Redis flushes and racing deletes', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;
  let bundle: string | undefined;
  const children: WorkerProcess[] = [];

  const rowsOf = async (tenantId: string): Promise<Row[]> =>
    (await db.query(`SELECT id, key, state, size, blob_name, spool FROM objects WHERE tenant_id = $1 ORDER BY key`, [tenantId])) as Row[];
  const container = (tenant: TenantSession) => `${ferry.config.containerPrefix}${tenant.id}`;

  async function putAll(tenant: TenantSession, objects: Map<string, Buffer>): Promise<void> {
    const entries = [...objects];
    // a few at a time, as a backup client would
    for (let i = 0; i < entries.length; i += 4) {
      await Promise.all(
        entries.slice(i, i + 4).map(async ([key, body]) => {
          const put = await tenant.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: key, Body: body }));
          expect(put.ETag).toBe(`"${md5(body)}"`);
        }),
      );
    }
  }

  async function readBack(tenant: TenantSession, key: string): Promise<Buffer> {
    const got = await tenant.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: key }));
    return Buffer.from(await got.Body!.transformToByteArray());
  }

  async function allStored(tenant: TenantSession, count: number, timeoutMs: number): Promise<boolean> {
    return eventually(async () => {
      const rows = await rowsOf(tenant.id);
      return rows.length === count && rows.every((row) => row.state === 'stored');
    }, timeoutMs, 200);
  }

  /** Every object is stored exactly once: one committed blob per row, no other blob, bytes identical. */
  async function expectForwardedExactly(tenant: TenantSession, objects: Map<string, Buffer>): Promise<void> {
    const rows = await rowsOf(tenant.id);
    expect(rows.map((row) => row.key).sort()).toEqual([...objects.keys()].sort());
    for (const row of rows) {
      expect(row.state, row.key).toBe('stored');
      expect(row.blob_name).toBe(`objects/${row.id}`);
    }
    const blobs = await listBlobs(ferry.config, container(tenant));
    expect(blobs.map((blob) => blob.name).sort()).toEqual(rows.map((row) => `objects/${row.id}`).sort());
    for (const row of rows) {
      const expected = objects.get(row.key)!;
      expect(blobs.find((blob) => blob.name === row.blob_name)?.size, row.key).toBe(expected.length);
      const stored = await downloadBlob(ferry.config, container(tenant), row.blob_name!);
      expect(md5(stored), row.key).toBe(md5(expected));
    }
  }

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({
      worker: false,
      // small blocks so a big object takes many round trips to forward; no recovery-cache window, so
      // the evictor may drop any stored object's spool copy
      env: { FERRY_BLOCK_BYTES: String(MiB), FERRY_BLOCK_CONCURRENCY: '2', FERRY_CACHE_HOURS: '0' },
    });
    db = ferry.gateway.app.get(DataSource);
    bundle = await buildWorkerBundle();
  });

  afterAll(async () => {
    for (const child of children) await child.kill('SIGKILL');
    await ferry?.stop();
    await removeDir(bundle);
  });

  it('(a) with the worker stopped, 50 acknowledged objects are readable at once and staged; a worker then stores them byte for byte', async () => {
    const tenant = await ferry.tenant('stopped');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    const sizes = [0, 1, 17, 1000, 4096, 65_536, MiB - 1, MiB, MiB + 1, 3 * MiB + 5, 5 * MiB];
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 50; i++) objects.set(`obj/${String(i).padStart(2, '0')}`, randomBytes(sizes[i % sizes.length] + (i >= sizes.length ? i : 0)));
    await putAll(tenant, objects);

    for (const [key, body] of objects) expect((await readBack(tenant, key)).equals(body), key).toBe(true);
    const staged = await rowsOf(tenant.id);
    expect(staged).toHaveLength(50);
    expect(staged.every((row) => row.state === 'staged' && row.blob_name === null && row.spool?.length === 1)).toBe(true);
    expect(await listBlobs(ferry.config, container(tenant))).toEqual([]);

    await ferry.startWorker();
    expect(await allStored(tenant, 50, 30_000)).toBe(true);
    await expectForwardedExactly(tenant, objects);
  });

  it('(b) a Redis flush while the worker is down loses no acknowledged object; reads after eviction come from Blob intact', async () => {
    const tenant = await ferry.tenant('flushed');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await ferry.stopWorker();
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 20; i++) objects.set(`flushed/${i}`, randomBytes(i % 5 === 0 ? 2 * MiB + i : 10_000 + i));
    await putAll(tenant, objects);
    expect(await countQueueKeys(ferry.config)).toBeGreaterThan(0);
    expect(await flushQueueKeys(ferry.config)).toBeGreaterThan(0);
    expect(await countQueueKeys(ferry.config)).toBe(0);

    await ferry.startWorker();
    // only the reconciler (every FERRY_RECONCILE_SECONDS = 2) knows about these now
    expect(await allStored(tenant, objects.size, 20_000)).toBe(true);
    await expectForwardedExactly(tenant, objects);

    // evict the recovery cache with the worker's own evictor (FERRY_CACHE_HOURS=0: everything stored goes)
    await ferry.worker!.get(EvictCacheHandler).handle();
    const rows = await rowsOf(tenant.id);
    expect(rows.every((row) => row.spool === null)).toBe(true);
    expect((await spoolFiles(ferry.config.spoolDir)).filter((file) => file.startsWith(`${tenant.id}/`))).toEqual([]);
    for (const [key, body] of objects) expect((await readBack(tenant, key)).equals(body), key).toBe(true);
    const range = await tenant.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'flushed/0', Range: 'bytes=1000-1999' }));
    expect(Buffer.from(await range.Body!.transformToByteArray()).equals(objects.get('flushed/0')!.subarray(1000, 2000))).toBe(true);
  });

  it('(b2) a Redis flush while the worker is running loses no acknowledged object either', async () => {
    const tenant = await ferry.tenant('flushed-live');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    if (!ferry.worker) await ferry.startWorker();
    // Hold the forward jobs in Redis (as a busy or Blob-starved worker would) so the flush takes them.
    const forward = ferry.gateway.app.get(JobQueues).queue(QueueName.Forward);
    await forward.pause();
    const objects = new Map<string, Buffer>();
    for (let i = 0; i < 5; i++) objects.set(`live/${i}`, randomBytes(50_000 + i));
    await putAll(tenant, objects);
    expect(await flushQueueKeys(ferry.config)).toBeGreaterThan(0);
    // Redis came back empty; the worker process kept running. Postgres still says "staged".
    const storedWhileRunning = await allStored(tenant, objects.size, 8_000);
    const stuck = (await rowsOf(tenant.id)).filter((row) => row.state === 'staged').length;
    const schedulers = (await ferry.gateway.app.get(JobQueues).queue(QueueName.Maintenance).getJobSchedulers()).map((s) => s.key);
    // a worker restart re-creates the maintenance schedules: the objects were never lost, only stranded
    await ferry.stopWorker();
    await ferry.startWorker();
    expect(await allStored(tenant, objects.size, 20_000)).toBe(true);
    await expectForwardedExactly(tenant, objects);
    expect(
      storedWhileRunning,
      `${stuck} of ${objects.size} objects stayed staged for 8 s (4 reconcile intervals) after the flush, until the worker was restarted; ` +
        `maintenance job schedulers in Redis meanwhile: ${JSON.stringify(schedulers)}`,
    ).toBe(true);
  });

  it('(c1) stopping the worker gracefully mid-forward, then starting another, stores everything exactly once', async () => {
    if (!ferry.worker) await ferry.startWorker();
    const tenant = await ferry.tenant('graceful');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    const bodies = distinctBodies(2, 32 * MiB);
    const objects = new Map(bodies.map((body, i) => [`big/${i}`, body] as const));
    await putAll(tenant, objects);
    const rows = await rowsOf(tenant.id);
    const inFlight = await eventually(async () => {
      for (const row of rows) if ((await uncommittedBlocks(ferry.config, container(tenant), `objects/${row.id}`)) > 0) return true;
      return false;
    }, 20_000, 20);
    expect(inFlight).toBe(true);
    await ferry.stopWorker();
    await ferry.startWorker();
    expect(await allStored(tenant, objects.size, 40_000)).toBe(true);
    await expectForwardedExactly(tenant, objects);
  });

  it('(c2) a worker killed with SIGKILL mid-forward loses and duplicates nothing once another worker takes over', async () => {
    const tenant = await ferry.tenant('crashed');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await ferry.stopWorker();
    const bodies = distinctBodies(3, 64 * MiB);
    const objects = new Map(bodies.map((body, i) => [`crash/${i}`, body] as const));
    await putAll(tenant, objects);
    const rows = await rowsOf(tenant.id);
    expect(rows.every((row) => row.state === 'staged')).toBe(true);

    // the compiled worker in its own process, with exactly this Ferry's configuration
    const child = spawnWorker(bundle!, ferry.config);
    children.push(child);
    let staging = 0;
    const started = await eventually(async () => {
      staging = 0;
      for (const row of rows) staging += await uncommittedBlocks(ferry.config, container(tenant), `objects/${row.id}`);
      return staging > 0;
    }, 30_000, 20);
    expect(started, child.output()).toBe(true);
    await child.kill('SIGKILL');
    expect(child.child.signalCode).toBe('SIGKILL');
    const afterKill = await rowsOf(tenant.id);
    expect(afterKill.filter((row) => row.state === 'staged').length).toBeGreaterThan(0);

    // BullMQ hands a dead worker's jobs on only after their 30 s lock expires and a 30 s stalled check
    // has seen them twice (measured: ~60 s). Fast-forward that wait; the recovery path is the real one.
    const hurry = await hurryStalledJobs(ferry.config, QueueName.Forward);
    try {
      expect(hurry.locksRemoved).toBeGreaterThan(0);
      await ferry.startWorker();
      expect(await allStored(tenant, objects.size, 40_000)).toBe(true);
    } finally {
      await hurry.stop();
    }
    // the crashed jobs really went the stalled way, not around it
    const forward = ferry.gateway.app.get(JobQueues).queue(QueueName.Forward);
    const jobs = await Promise.all(rows.map((row) => forward.getJob(forwardJobId(row.id))));
    expect(jobs.filter((job) => (job?.stalledCounter ?? 0) > 0).length).toBeGreaterThan(0);
    await expectForwardedExactly(tenant, objects);
    for (const [key, body] of objects) expect(md5(await readBack(tenant, key)), key).toBe(md5(body));
  });

  it('(c3) an object whose forward job BullMQ gave up on (stalled twice, i.e. two crashes) is still forwarded', async () => {
    const tenant = await ferry.tenant('given-up');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await ferry.stopWorker();
    const body = randomBytes(100_000);
    await putAll(tenant, new Map([['orphan', body]]));
    const [row] = await rowsOf(tenant.id);
    // Put the job in the terminal state BullMQ leaves it in after it stalled more than maxStalledCount
    // (1) times: "failed", kept for removeOnFail's 7 days. Done directly rather than by two 30 s crashes.
    const grabber = new Worker(QueueName.Forward, undefined, {
      connection: redisConnection(ferry.config.redisUrl.reveal()),
      prefix: ferry.config.queuePrefix,
      autorun: false,
    });
    try {
      const token = randomUUID();
      const job = await grabber.getNextJob(token, { block: false });
      expect(job?.id).toBe(forwardJobId(row.id));
      await job!.moveToFailed(new UnrecoverableError('job stalled more than allowable limit'), token);
    } finally {
      await grabber.close();
    }
    const forward = ferry.gateway.app.get(JobQueues).queue(QueueName.Forward);
    expect(await forward.getJobState(forwardJobId(row.id))).toBe('failed');

    await ferry.startWorker();
    const forwarded = await allStored(tenant, 1, 8_000);
    const state = await forward.getJobState(forwardJobId(row.id));
    if (!forwarded) {
      // leave the run clean: without the failed job the reconciler's fixed-id add goes through
      await forward.remove(forwardJobId(row.id));
      expect(await allStored(tenant, 1, 10_000)).toBe(true);
    }
    expect(forwarded, `still staged after 4 reconcile intervals; its job is "${state}", so the reconciler's add with the same fixed job id is ignored`).toBe(true);
  });

  it('(d) deleting an object while it is being forwarded leaves no blob behind once the garbage collector has run', async () => {
    const tenant = await ferry.tenant('racing-delete');
    await tenant.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    if (!ferry.worker) await ferry.startWorker();
    const [body] = distinctBodies(1, 64 * MiB);
    await putAll(tenant, new Map([['doomed', body]]));
    const [row] = await rowsOf(tenant.id);
    const blobName = `objects/${row.id}`;
    const forwarding = await eventually(async () => (await uncommittedBlocks(ferry.config, container(tenant), blobName)) > 0, 20_000, 10);
    expect(forwarding).toBe(true);
    await tenant.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'doomed' }));
    expect(await rowsOf(tenant.id)).toEqual([]);

    const forward = ferry.gateway.app.get(JobQueues).queue(QueueName.Forward);
    const settled = await eventually(async () => {
      const [garbage] = (await db.query(`SELECT count(*)::int AS n FROM garbage WHERE tenant_id = $1`, [tenant.id])) as { n: number }[];
      const state = await forward.getJobState(forwardJobId(row.id));
      return garbage.n === 0 && (state === 'completed' || state === 'unknown');
    }, 30_000, 100);
    expect(settled).toBe(true);
    // one more collector pass, in case the forwarder's last write raced the first
    await new Promise((resolve) => setTimeout(resolve, 5_500));
    expect(await listBlobs(ferry.config, container(tenant))).toEqual([]);
    expect((await spoolFiles(ferry.config.spoolDir)).filter((file) => file.startsWith(`${tenant.id}/`))).toEqual([]);
    const uncommitted = await listBlobs(ferry.config, container(tenant), { uncommitted: true });
    expect(uncommitted).toEqual([]);
  });
});
