import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { UnrecoverableError, Worker } from 'bullmq';
import { DataSource } from 'typeorm';
import { SealedBox } from '@ferry/common';
import type { ResolvedConfig } from '@ferry/config';
import { CatalogEventsRepository, ChunksRepository, GarbageRepository, PacksRepository, TenantsRepository } from '@ferry/catalog';
import { readContainer, TenantKeyring } from '@ferry/packing';
import { forwardJobId, JobQueues, QueueName, redisConnection } from '@ferry/queue';
import { BlobStore, Spool } from '@ferry/storage';
import { CollectGarbageHandler } from '../../apps/worker/src/maintenance/collect-garbage.handler.js';
import { EvictCacheHandler } from '../../apps/worker/src/maintenance/evict-cache.handler.js';
import { PackRewriter } from '../../apps/worker/src/repack/pack.rewriter.js';
import { PrunePacksHandler } from '../../apps/worker/src/repack/prune-packs.handler.js';
import { WORKER_LOGGER } from '../../apps/worker/src/worker.tokens.js';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';
import {
  buildWorkerBundle,
  countQueueKeys,
  flushQueueKeys,
  hurryStalledJobs,
  listBlobs,
  removeDir,
  spawnWorker,
  spoolFiles,
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
  packed: boolean;
  spool: { path: string; size: number }[] | null;
}

interface PackRow {
  id: string;
  state: 'writing' | 'stored' | 'retired';
  size: string;
  chunk_count: number;
  event_count: number;
}

interface ChunkRow {
  id: string;
  pack_id: string | null;
  frame_offset: string | null;
  frame_length: number | null;
  plain_length: number;
  refs: number;
}

interface ManifestRow {
  object_id: string;
  seq: number;
  offset: string;
  length: number;
  chunk: string;
}

/** What the catalog says about a tenant's packs, and the container's blobs, taken while no pack is being written. */
interface ContainerState {
  packs: PackRow[];
  blobs: { name: string; size: number }[];
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
    (await db.query(`SELECT id, key, state, size, blob_name, packed, spool FROM objects WHERE tenant_id = $1 ORDER BY key`, [tenantId])) as Row[];
  const packsOf = async (tenantId: string): Promise<PackRow[]> =>
    (await db.query(`SELECT id, state, size, chunk_count, event_count FROM packs WHERE tenant_id = $1 ORDER BY id`, [tenantId])) as PackRow[];
  const chunksOf = async (tenantId: string): Promise<ChunkRow[]> =>
    (await db.query(
      `SELECT encode(id, 'hex') AS id, pack_id, frame_offset, frame_length, plain_length, refs FROM chunks WHERE tenant_id = $1`,
      [tenantId],
    )) as ChunkRow[];
  /** Chunks an ingest has claimed and not yet stored in a pack: a worker is repacking this tenant's objects right now. */
  const claimsOf = async (tenantId: string): Promise<number> => {
    const [row] = (await db.query(`SELECT count(*)::int AS n FROM chunks WHERE tenant_id = $1 AND pack_id IS NULL`, [tenantId])) as { n: number }[];
    return row.n;
  };
  const container = (tenant: TenantSession) => `${ferry.config.containerPrefix}${tenant.id}`;

  /**
   * Reclaims the storage of deleted objects now: the worker's garbage collector and prune job with no
   * grace period (FERRY_CHUNK_GRACE_MS=0), and retired packs collected without their keep time, as
   * test/integration/repacking.test.ts does. The file keeps the production grace otherwise: with grace
   * 0 the periodic collector may forget a chunk between its pack's commit and its manifest's, which
   * the engine answers, by design, by storing the chunk again, and that would make "stored exactly
   * once" below untestable.
   */
  async function reclaimNow(): Promise<void> {
    const worker = ferry.worker!;
    const config: ResolvedConfig = { ...ferry.config, packing: { ...ferry.config.packing, chunkGraceMs: 0 } };
    const packs = worker.get(PacksRepository);
    const collector = new CollectGarbageHandler(config, worker.get(ChunksRepository), packs, worker.get(GarbageRepository), worker.get(BlobStore), worker.get(Spool));
    const prune = new PrunePacksHandler(
      config,
      worker.get(WORKER_LOGGER),
      packs,
      worker.get(TenantsRepository),
      worker.get(CatalogEventsRepository),
      worker.get(TenantKeyring),
      worker.get(PackRewriter),
    );
    await collector.handle();
    await prune.handle();
    await packs.collectEmptyPacks(0, 500, 0);
    await collector.handle();
  }

  /**
   * The catalog's packs and the container's blobs, once no pack is being written but `abandoned`
   * ones (those a killed worker began and never committed): listed between two identical reads of
   * the packs table, so a pack written meanwhile cannot make the two disagree.
   */
  async function quietContainer(tenant: TenantSession, abandoned: ReadonlySet<string> = new Set()): Promise<ContainerState> {
    let state: ContainerState | undefined;
    const quiet = await eventually(async () => {
      const before = await packsOf(tenant.id);
      if (before.some((pack) => pack.state === 'writing' && !abandoned.has(pack.id))) return false;
      const blobs = await listBlobs(ferry.config, container(tenant));
      const after = await packsOf(tenant.id);
      if (JSON.stringify(after) !== JSON.stringify(before)) return false;
      state = { packs: after, blobs };
      return true;
    }, 20_000, 100);
    expect(quiet, 'a pack of this tenant was still being written').toBe(true);
    return state!;
  }

  /**
   * Every object is stored exactly once, and nothing else is. In the catalog: each row stored, packed
   * and blobless, its manifest covering its bytes with chunks that all sit in a committed pack, and no
   * chunk that no manifest names. In the container: the keyring and the catalog's packs, nothing else;
   * the packs' own indexes (read from Blob) list every chunk exactly once and no other, so an object
   * (or a chunk) written twice would show up as a second entry. Then the recovery cache is evicted and
   * every object is read back through S3, from the packs, byte for byte.
   */
  async function expectStoredExactlyOnce(tenant: TenantSession, objects: Map<string, Buffer>, abandoned: ReadonlySet<string> = new Set()): Promise<void> {
    const rows = await rowsOf(tenant.id);
    expect(rows.map((row) => row.key).sort()).toEqual([...objects.keys()].sort());
    for (const row of rows) {
      expect({ state: row.state, packed: row.packed, blob_name: row.blob_name }, row.key).toEqual({ state: 'stored', packed: true, blob_name: null });
      expect(Number(row.size), row.key).toBe(objects.get(row.key)!.length);
    }

    const { packs, blobs } = await quietContainer(tenant, abandoned);
    const storedPacks = new Map(packs.filter((pack) => pack.state === 'stored').map((pack) => [pack.id, pack]));
    const writing = packs.filter((pack) => pack.state === 'writing').map((pack) => pack.id);
    expect(writing.filter((id) => !abandoned.has(id))).toEqual([]);

    // the manifests: complete, contiguous, every chunk in a committed pack
    const chunks = await chunksOf(tenant.id);
    const chunkById = new Map(chunks.map((chunk) => [chunk.id, chunk]));
    const manifest = (await db.query(
      `SELECT object_id, seq, "offset", length, encode(chunk_id, 'hex') AS chunk FROM object_chunks WHERE tenant_id = $1 ORDER BY object_id, seq`,
      [tenant.id],
    )) as ManifestRow[];
    const named = new Map<string, number>();
    for (const row of rows) {
      const entries = manifest.filter((entry) => entry.object_id === row.id);
      let offset = 0;
      for (const [i, entry] of entries.entries()) {
        expect({ seq: entry.seq, offset: Number(entry.offset) }, row.key).toEqual({ seq: i, offset });
        const chunk = chunkById.get(entry.chunk);
        expect(chunk?.plain_length, `${row.key}: chunk ${entry.chunk}`).toBe(entry.length);
        expect(storedPacks.has(chunk!.pack_id!), `${row.key}: chunk ${entry.chunk} is in pack ${chunk!.pack_id}`).toBe(true);
        offset += entry.length;
        named.set(entry.chunk, (named.get(entry.chunk) ?? 0) + 1);
      }
      expect(offset, row.key).toBe(Number(row.size));
    }
    expect(manifest.every((entry) => rows.some((row) => row.id === entry.object_id))).toBe(true);
    // no chunk outside the manifests (nothing was deleted here), and refs count the manifests naming it
    const byId = ([a]: [string, number], [b]: [string, number]) => (a < b ? -1 : 1);
    expect(chunks.map((chunk): [string, number] => [chunk.id, chunk.refs]).sort(byId)).toEqual([...named].sort(byId));

    // the container: the keyring and the catalog's packs; a pack row 'writing' is allowed only as a
    // killed worker's leftover, and then must not count as stored
    const packBlob = (id: string) => `packs/${id}`;
    expect(blobs.map((blob) => blob.name).filter((name) => name !== 'ferry/keyring' && !packs.some((pack) => packBlob(pack.id) === name))).toEqual([]);
    expect(blobs.some((blob) => blob.name === 'ferry/keyring')).toBe(true);
    for (const pack of storedPacks.values()) expect(blobs.find((blob) => blob.name === packBlob(pack.id))?.size, pack.id).toBe(Number(pack.size));

    // the packs' indexes, read from Blob with the master key: each chunk exactly once, where the catalog says
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    const snapshot = await readContainer(ferry.gateway.app.get(BlobStore), box, tenant.id, container(tenant));
    expect(snapshot.unreadable).toEqual([]);
    const indexed = snapshot.packs.filter((pack) => storedPacks.has(pack.id));
    expect(indexed.map((pack) => pack.id).sort()).toEqual([...storedPacks.keys()].sort());
    const entries = indexed.flatMap((pack) => pack.chunks.map((entry) => ({ pack: pack.id, id: entry.id.toString('hex'), offset: entry.offset, frameLength: entry.frameLength })));
    expect(entries.length, 'chunk frames in the committed packs').toBe(chunks.length);
    for (const pack of indexed) expect(pack.chunks.length, pack.id).toBe(storedPacks.get(pack.id)!.chunk_count);
    for (const entry of entries) {
      const chunk = chunkById.get(entry.id);
      expect({ pack: chunk?.pack_id, offset: Number(chunk?.frame_offset), frameLength: chunk?.frame_length }, entry.id).toEqual({
        pack: entry.pack,
        offset: entry.offset,
        frameLength: entry.frameLength,
      });
    }
    // each object's manifest reached the container with its object.put event
    const put = new Set(snapshot.events.filter((event) => event.type === 'object.put').map((event) => (event as { objectId: string }).objectId));
    expect(rows.filter((row) => !put.has(row.id)).map((row) => row.key)).toEqual([]);

    const usage = (await ferry.admin('GET', `/admin/v1/tenants/${tenant.id}/usage`)).body;
    expect(usage).toMatchObject({
      logicalBytes: [...objects.values()].reduce((sum, body) => sum + body.length, 0),
      objects: objects.size,
      pendingBytes: 0,
      storedBytes: [...storedPacks.values()].reduce((sum, pack) => sum + Number(pack.size), 0),
    });

    // the recovery cache emptied (FERRY_CACHE_HOURS=0): every read below comes from the packs
    await ferry.worker!.get(EvictCacheHandler).handle();
    expect((await rowsOf(tenant.id)).filter((row) => row.spool !== null).map((row) => row.key)).toEqual([]);
    for (const [key, body] of objects) expect(md5(await readBack(tenant, key)), key).toBe(md5(body));
  }

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

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({
      worker: false,
      // no recovery-cache window, so the evictor may drop any stored object's spool copy and reads
      // come from the packs; the chunk grace period stays the production one (see reclaimNow)
      env: { FERRY_CACHE_HOURS: '0' },
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
    await expectStoredExactlyOnce(tenant, objects);
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
    await expectStoredExactlyOnce(tenant, objects);

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
    await expectStoredExactlyOnce(tenant, objects);
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
    // Packs are single Put Blob requests: "mid-forward" is now chunks claimed by an ingest and not
    // yet in a committed pack. Watched from the first upload on: the first object's repack begins
    // while the second is still being sent.
    const repacking = eventually(async () => (await claimsOf(tenant.id)) > 0, 40_000, 10);
    await putAll(tenant, objects);
    expect(await repacking, 'no chunk of the tenant was ever seen claimed and not yet in a pack').toBe(true);
    await ferry.stopWorker();
    await ferry.startWorker();
    expect(await allStored(tenant, objects.size, 40_000)).toBe(true);
    await expectStoredExactlyOnce(tenant, objects);
  });

  it('(c2) a worker killed with SIGKILL mid-forward loses and duplicates nothing once another worker takes over', async ({ annotate }) => {
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
    // killed mid-stream: a first pack of chunks is in Blob and committed, while the worker still holds
    // claims on chunks it has not yet got into a committed pack (the next pack's upload is under way)
    const started = await eventually(async () => {
      const committed = (await packsOf(tenant.id)).some((pack) => pack.state === 'stored' && pack.chunk_count > 0);
      return committed && (await claimsOf(tenant.id)) > 0;
    }, 30_000, 20);
    expect(started, child.output()).toBe(true);
    await child.kill('SIGKILL');
    expect(child.child.signalCode).toBe('SIGKILL');
    const afterKill = await rowsOf(tenant.id);
    expect(afterKill.filter((row) => row.state === 'staged').length).toBeGreaterThan(0);
    // A pack the dead worker began ('writing' is recorded before its upload) and never committed: its
    // blob may be in the container, but its chunks are stored again by the worker taking over, and it
    // is not counted as stored (SweepPacks removes it after an hour). Nothing else may be left over.
    const abandoned = new Set((await packsOf(tenant.id)).filter((pack) => pack.state === 'writing').map((pack) => pack.id));
    if (abandoned.size > 0) {
      const present = (await listBlobs(ferry.config, container(tenant))).filter((blob) => [...abandoned].some((id) => blob.name === `packs/${id}`));
      await annotate(`the killed worker left ${abandoned.size} uncommitted pack(s), ${present.length} of them uploaded: ${present.map((blob) => blob.name).join(', ')}`);
    }

    // BullMQ hands a dead worker's jobs on only after their lock expires and a stalled check has seen
    // them. Fast-forward that wait; the recovery path is the real one.
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
    await expectStoredExactlyOnce(tenant, objects, abandoned);
    // the abandoned packs are still only 'writing' rows: never part of storedBytes (checked above)
    expect((await packsOf(tenant.id)).filter((pack) => abandoned.has(pack.id)).every((pack) => pack.state === 'writing')).toBe(true);
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
    const repacking = eventually(async () => (await claimsOf(tenant.id)) > 0, 30_000, 10);
    await putAll(tenant, new Map([['doomed', body]]));
    expect(await repacking, 'the object was never seen being repacked').toBe(true);
    const [row] = await rowsOf(tenant.id);
    // still being repacked when the delete arrives: the race this test is about
    expect(row.state).toBe('staged');
    await tenant.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'doomed' }));
    expect(await rowsOf(tenant.id)).toEqual([]);
    // the collector (every 5 s in the worker) passes while the repack is still under way: it drains the
    // garbage outbox, i.e. removes the deleted object's spool files the repack is reading
    await ferry.worker!.get(CollectGarbageHandler).handle();

    const forward = ferry.gateway.app.get(JobQueues).queue(QueueName.Forward);
    const finished = await eventually(async () => ['completed', 'unknown'].includes(await forward.getJobState(forwardJobId(row.id))), 30_000, 100);
    expect(finished).toBe(true);
    // The repack's packs commit after its job gives up on the deleted object, and the delete reaches
    // the container as a catalog event in a pack of its own. Reclaim (grace 0) until no stored chunk
    // is left and every pack left carries catalog events only (packs carrying events are never simply
    // deleted: prune moves their events out of the packs that held the object's bytes).
    let left: unknown;
    const reclaimed = await eventually(async () => {
      await reclaimNow();
      const [garbage] = (await db.query(`SELECT count(*)::int AS n FROM garbage WHERE tenant_id = $1`, [tenant.id])) as { n: number }[];
      const [outbox] = (await db.query(`SELECT count(*)::int AS n FROM catalog_events WHERE tenant_id = $1`, [tenant.id])) as { n: number }[];
      const packs = await packsOf(tenant.id);
      const blobs = (await listBlobs(ferry.config, container(tenant))).map((blob) => blob.name);
      const chunks = await chunksOf(tenant.id);
      left = {
        stored: chunks.filter((chunk) => chunk.pack_id !== null).length,
        claimed: chunks.filter((chunk) => chunk.pack_id === null).length,
        garbage: garbage.n,
        outbox: outbox.n,
        packs: packs.map((pack) => `${pack.id} ${pack.state} chunks=${pack.chunk_count} events=${pack.event_count} size=${pack.size}`),
        blobs,
      };
      return (
        chunks.every((chunk) => chunk.pack_id === null) &&
        garbage.n === 0 &&
        outbox.n === 0 &&
        packs.every((pack) => pack.state === 'stored' && pack.chunk_count === 0 && pack.event_count > 0) &&
        JSON.stringify(blobs) === JSON.stringify(['ferry/keyring', ...packs.map((pack) => `packs/${pack.id}`)].sort())
      );
    }, 30_000, 500);
    expect(reclaimed, JSON.stringify(left, null, 1)).toBe(true);
    // nor a claim: a chunk claimed by the given-up repack and never stored would be collected only
    // after its 10 min lease, and until then every upload of the same bytes waits for it
    expect(await claimsOf(tenant.id), JSON.stringify(left, null, 1)).toBe(0);
    // what is left is a few hundred bytes of encrypted events, nothing of the 64 MiB
    const packs = await packsOf(tenant.id);
    expect(packs.reduce((sum, pack) => sum + Number(pack.size), 0)).toBeLessThan(64 * 1024);
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    const snapshot = await readContainer(ferry.gateway.app.get(BlobStore), box, tenant.id, container(tenant));
    expect(snapshot.unreadable).toEqual([]);
    expect(snapshot.packs.flatMap((pack) => pack.chunks)).toEqual([]);
    // and the container says the object is gone, so a rebuild from it cannot bring it back
    expect(snapshot.events.filter((event) => event.type === 'object.delete').map((event) => (event as { objectId: string }).objectId)).toContain(row.id);
    const uncommitted = (await listBlobs(ferry.config, container(tenant), { uncommitted: true })).map((blob) => blob.name);
    expect(uncommitted).toEqual(['ferry/keyring', ...packs.map((pack) => `packs/${pack.id}`)].sort());
    expect((await spoolFiles(ferry.config.spoolDir)).filter((file) => file.startsWith(`${tenant.id}/`))).toEqual([]);
    const usage = (await ferry.admin('GET', `/admin/v1/tenants/${tenant.id}/usage`)).body;
    expect(usage).toMatchObject({ logicalBytes: 0, objects: 0, pendingBytes: 0, storedBytes: packs.reduce((sum, pack) => sum + Number(pack.size), 0) });
  });
});
