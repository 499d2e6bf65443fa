/**
 * `npm run bench:repack [-- rounds]`: the repackaging engine (docs/format.md) beside baselines
 * measured in the same run, repeated for a number of rounds (default 3):
 *  - drain: objects acknowledged with the worker stopped (all staged), then the worker started and
 *    timed until nothing is staged; log-like data (zstd-1 ≈ 3.7×), 1 GiB as 16 × 64 MiB and 1 GiB as
 *    1,024 × 1 MiB. Baseline: the same bytes uploaded straight to Azurite with @azure/storage-blob.
 *    Then the same again (another tenant) by that worker in service: queue paused while acknowledged,
 *    resumed as the clock starts.
 *  - Blob write requests per GiB ingested as 1 MiB objects, counted from Azurite's access log
 *    (blob-request-log.ts); the direct upload is counted the same way.
 *  - a second full backup: a ~1 GiB tree of 400 incompressible files, uploaded whole twice with 5 %
 *    of the files changed in between; stored bytes added by the second, against the first.
 *  - restore: warm (still in the spool cache) and cold (cache evicted, read from packs) GETs of both
 *    sets, 8 at a time, against GETs of the same bytes as plain blobs straight from Azurite, each
 *    Ferry pass followed at once by its direct one. The targets are judged on passes where one plain
 *    HTTP client (http-get.ts) reads both servers, Ferry by presigned SigV4 URLs and Azurite by a SAS
 *    URL: the client libraries cost as much CPU as the servers, on the same two cores. The SDK
 *    passes follow: @aws-sdk/client-s3 against @azure/storage-blob, the S3 client checking no
 *    response checksum, as the Azure SDK does not; a third cold pass, with the SDK's default CRC32
 *    check, shows what that costs the client. Before each
 *    pass, untimed, the gateway serving it reads 8 × 64 MiB and 1,024 × 1 MiB of another tenant's
 *    (same state: in the cache, or only in its own packs), so that the pass measures cold data, not a
 *    gateway whose code V8 has not optimized yet and whose read buffers are new memory: a gateway in
 *    service has served reads before. Azurite, likewise, serves the same GETs of its own before the
 *    first direct pass of a round.
 * Every byte read back is compared with what was written. Prints a table per round to stderr and a
 * markdown section for docs/benchmarks.md to stdout (it does not edit the docs itself).
 * Each round first waits (up to a minute) for the machine to be quiet, and every timed step records
 * the CPU the rest of the machine spent meanwhile, so a round disturbed by someone else's work shows.
 * REPACK_BENCH_DRAIN_ONLY=1 runs only the drains and the direct uploads (diagnosis only).
 * REPACK_BENCH_CPU_PROF=<dir> writes V8 CPU profiles of the gateway and every worker (threads included)
 * there (each cold pass gets a gateway, and so a profile, of its own, its warm-up reads included); REPACK_BENCH_WORKER_ENV='{"FERRY_…":"…"}' tries settings on the worker,
 * REPACK_BENCH_GATEWAY_ENV the same on the gateway, REPACK_BENCH_WORKER_FLAGS / REPACK_BENCH_GATEWAY_FLAGS='--…' Node flags
 * to try on the worker / gateway (diagnosis only).
 * REPACK_BENCH_PERF=<dir> records `perf` profiles of the gateway during the plain client's warm and cold
 * passes there (diagnosis only).
 * REPACK_BENCH_BLOB_LATENCY_MS=<ms> puts a proxy between the worker and Azurite that holds back each of its
 * answers that long, as a Blob service across a network would (latency-proxy.ts; diagnosis only: the
 * baselines do not pass it).
 * Needs the test services: PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { BlobServiceClient, ContainerSASPermissions, type ContainerClient } from '@azure/storage-blob';
import { Queue } from 'bullmq';
import pg from 'pg';
import { tenantContainer } from '@ferry/config';
import { JobName, QueueName, redisConnection } from '@ferry/queue';
import { prepareTemplateDatabase, freshDatabase, TEST_REDIS_URL } from '@ferry/testing';
import { presigner } from '../support/sigv4.js';
import { appEnvironment, appMain, appNodeFlags, lowerPriority } from '../../apps/ferry/src/app-env.js';
import { startAzurite, type EmbeddedAzurite } from '../../apps/ferry/src/embedded/azurite.js';
import { spawnChild, type Child } from '../../apps/ferry/src/embedded/child.js';
import { freePort, waitForPort } from '../../apps/ferry/src/embedded/free-port.js';
import { benchConfig } from './bench-config.js';
import type { Sample } from './bench-report.js';
import { changeFile, fillLogLike, fillRandom, treeSizes } from './bench-data.js';
import { BlobRequestLog, countsBetween } from './blob-request-log.js';
import { GetConnection, getAll } from './http-get.js';
import { CpuMeter, pidsNamed } from './cpu-meter.js';
import { machineCpu, waitForQuiet } from './machine-cpu.js';
import { repackReport, roundTable, type BackupResult, type RepackResults, type BlobActivity, type RequestCount } from './repack-report.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const BIG = 64 * MiB;
const BIG_COUNT = 16;
const SMALL = MiB;
const SMALL_COUNT = 1024;
/** Uploads as the ingest bench makes them: 64 MiB objects 4 at a time, 1 MiB objects 32 at a time. */
const BIG_PUTS = 4;
const SMALL_PUTS = 32;
const TREE_PUTS = 8;
const GETS = 8;
const TREE_FILES = 400;
const TREE_BYTES = GiB;
/** Every 20th file of the tree changes between the two backups (5 %). */
const CHANGE_EVERY = 20;
const BUCKET = 'bench';
const root = fileURLToPath(new URL('../../../', import.meta.url));

async function pool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(count, concurrency) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Reads a body to its end, checking every byte against what was written; never keeps it. */
async function consume(body: Readable, expected: Buffer, what: string): Promise<void> {
  let offset = 0;
  for await (const data of body as AsyncIterable<Buffer>) {
    if (!expected.subarray(offset, offset + data.length).equals(data)) throw new Error(`${what}: bytes ${offset}–${offset + data.length} differ`);
    offset += data.length;
  }
  if (offset !== expected.length) throw new Error(`${what}: ${offset} bytes read of ${expected.length}`);
}

interface Dataset {
  /** Key prefix in the drain tenant's bucket, and name prefix of the direct blobs. */
  prefix: string;
  objects: Buffer[];
  puts: number;
  bytes: number;
}

interface Worker {
  child: Child;
  /** Seconds from spawn to its "worker ready" log line. */
  ready: Promise<number>;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, not ${process.argv[2]}`);
  const started = performance.now();
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanUp = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch((error: unknown) => process.stderr.write(`bench: cleanup: ${String(error)}\n`));
  };
  // a bench stopped by a signal still stops its children and removes its data
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`bench: ${signal}, cleaning up\n`);
      void cleanUp().finally(() => process.exit(130));
    });
  }
  try {
    await run(rounds, cleanups);
  } finally {
    await cleanUp();
    process.stderr.write(`bench: ${((performance.now() - started) / 1000).toFixed(0)} s in all\n`);
  }
}

async function run(rounds: number, cleanups: (() => Promise<unknown>)[]): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-repack-bench-'));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  // Azurite keeps its data on disk, as `npm start` embeds it, and runs at its lower priority. Its
  // access log counts the Blob requests: nothing stands between the worker and Azurite.
  const blobLog = new BlobRequestLog();
  const azurite: EmbeddedAzurite = await startAzurite({ location: join(dataDir, 'azurite'), onLine: (line) => blobLog.line(line) });
  cleanups.push(() => azurite.stop());
  lowerPriority(azurite.pid);
  const blobEndpoint = `http://127.0.0.1:${azurite.port}/devstoreaccount1`;
  const straight = BlobServiceClient.fromConnectionString(azurite.connectionString);
  // REPACK_BENCH_BLOB_LATENCY_MS=<ms>: a proxy between the worker and Azurite holds back each answer
  // that long, as a Blob service across a network would (diagnosis only; the worker's requests, not
  // the gateway's reads nor the baselines)
  const latency = Number(process.env.REPACK_BENCH_BLOB_LATENCY_MS ?? 0);
  let workerBlob = azurite.connectionString;
  let proxy: Child | undefined;
  if (latency > 0) {
    const proxyPort = await freePort();
    proxy = spawnChild('proxy', process.execPath, [join(root, 'dist', 'test', 'bench', 'latency-proxy.js'), String(proxyPort), String(azurite.port), String(latency)], { quiet: true });
    cleanups.push(() => proxy!.stop());
    lowerPriority(proxy.process.pid);
    await waitForPort(proxyPort);
    workerBlob = azurite.connectionString.replace(`127.0.0.1:${azurite.port}/`, `127.0.0.1:${proxyPort}/`);
  }

  await prepareTemplateDatabase();
  const db = await freshDatabase();
  cleanups.push(() => db.drop());
  const config = await benchConfig({ dataDir, databaseUrl: db.url, azurite: azurite.connectionString, containerLetter: 'r' });
  const [s3Port, consolePort] = [config.s3Port, config.consolePort];
  // this run's own names for its direct containers (the containers' prefix ends in '-')
  const runId = config.containerPrefix.slice(0, -1);

  const env = appEnvironment(config);
  // REPACK_BENCH_CPU_PROF=<dir>: a V8 CPU profile of the gateway and of every worker (threads included) in <dir>
  const profile = process.env.REPACK_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.REPACK_BENCH_CPU_PROF}`] : [];
  const app = (name: string): Child => {
    // with the launcher's Node flags; REPACK_BENCH_GATEWAY_FLAGS='--…': more to try on the gateway (diagnosis only)
    const extra = name === 'gateway' ? [...profile, ...(process.env.REPACK_BENCH_GATEWAY_FLAGS?.split(' ').filter(Boolean) ?? [])] : [];
    // REPACK_BENCH_GATEWAY_ENV='{"FERRY_READ_AHEAD_BYTES":"…"}': settings to try on the gateway (diagnosis only)
    const settings = name === 'gateway' && process.env.REPACK_BENCH_GATEWAY_ENV ? (JSON.parse(process.env.REPACK_BENCH_GATEWAY_ENV) as Record<string, string>) : {};
    const child = spawnChild(name, process.execPath, [...appNodeFlags(name), ...extra, appMain(join(root, 'dist'), name)], { env: { ...env, ...settings } });
    cleanups.push(() => child.stop());
    return child;
  };
  const ledger = app('ledger');
  app('console');
  let gateway = app('gateway');

  // The worker runs at a lower priority, as `npm start` runs it. `cacheHours` is its spool-cache window.
  let worker: Worker | undefined;
  const startWorker = (cacheHours: number): Worker => {
    const spawned = performance.now();
    // REPACK_BENCH_WORKER_FLAGS='--…': Node flags to try on the worker (diagnosis only)
    const flags = process.env.REPACK_BENCH_WORKER_FLAGS?.split(' ').filter(Boolean) ?? [];
    const child = spawnChild('worker', process.execPath, [...appNodeFlags('worker'), ...flags, ...profile, appMain(join(root, 'dist'), 'worker')], {
      env: {
        ...env,
        AZURE_STORAGE_CONNECTION_STRING: workerBlob,
        FERRY_CACHE_HOURS: String(cacheHours),
        LOG_LEVEL: 'info',
        // REPACK_BENCH_WORKER_ENV='{"FERRY_PACK_LINGER_MS":"20"}': settings to try on the worker (diagnosis only;
        // the figures in docs/benchmarks.md are taken with the defaults)
        ...(process.env.REPACK_BENCH_WORKER_ENV ? (JSON.parse(process.env.REPACK_BENCH_WORKER_ENV) as Record<string, string>) : {}),
      },
      quiet: true,
    });
    cleanups.push(() => child.stop());
    lowerPriority(child.process.pid);
    const ready = new Promise<number>((resolve, reject) => {
      let pending = '';
      child.process.stdout?.on('data', (data: Buffer) => {
        pending += data.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          let entry: { level?: number; msg?: string } = {};
          try {
            entry = JSON.parse(line) as typeof entry;
          } catch {
            // not a log line
          }
          if (entry.msg === 'worker ready') resolve((performance.now() - spawned) / 1000);
          // its warnings and errors still show (LOG_LEVEL is info only to see it become ready)
          if ((entry.level ?? 40) >= 40) process.stderr.write(`[worker] ${line}\n`);
        }
      });
      child.process.stderr?.on('data', (data: Buffer) => process.stderr.write(`[worker] ${data.toString()}`));
      child.process.once('exit', (code) => reject(new Error(`worker exited with code ${code} before it was ready`)));
    });
    ready.catch(() => undefined);
    return { child, ready };
  };
  const stopWorker = async () => {
    await worker?.child.stop();
    worker = undefined;
  };

  const catalog = new pg.Client({ connectionString: db.url });
  await catalog.connect();
  cleanups.push(() => catalog.end());
  // every queue of this run's prefix is removed from Redis at the end
  const queues = Object.values(QueueName).map((name) => new Queue(name, { connection: redisConnection(TEST_REDIS_URL), prefix: config.queuePrefix }));
  for (const queue of queues) cleanups.push(() => queue.obliterate({ force: true }).finally(() => queue.close()));
  const maintenance = queues[Object.values(QueueName).indexOf(QueueName.Maintenance)];
  const forward = queues[Object.values(QueueName).indexOf(QueueName.Forward)];
  await waitForPort(s3Port);
  await waitForPort(consolePort);

  const admin = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const response = await fetch(`http://127.0.0.1:${consolePort}/admin/v1/${path}`, {
      method,
      headers: { Authorization: `Bearer ${config.adminToken.reveal()}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
    return (await response.json()) as T;
  };
  interface Tenant {
    id: string;
    container: string;
    /** The SDK as it comes: CRC32 on every upload, and every GET's CRC32 checked when the object has one. */
    s3: S3Client;
    /** For restores: checks a response's checksum only when the operation requires it, like the Azure SDK's GET. */
    reader: S3Client;
    /** Presigned GET paths for the restore passes' plain HTTP client (http-get.ts). */
    presign: (path: string) => Promise<string>;
  }
  const createTenant = async (name: string): Promise<Tenant> => {
    const created = await admin<{ id: string; accessKeyId: string; secretAccessKey: string }>('POST', 'tenants', { name, quotaBytes: 1e13 });
    const options = {
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey },
    };
    const s3 = new S3Client(options);
    const reader = new S3Client({ ...options, responseChecksumValidation: 'WHEN_REQUIRED' });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    cleanups.push(async () => (s3.destroy(), reader.destroy()));
    const sign = presigner(options.endpoint, options.credentials);
    const presign = (path: string) => sign({ method: 'GET', path, expiresIn: 3600 });
    return { id: created.id, container: tenantContainer(config, created.id), s3, reader, presign };
  };
  const usage = (tenant: Tenant) =>
    admin<{ logicalBytes: number; storedBytes: number; pendingBytes: number; dedupRatio: number | null; compressionRatio: number | null }>('GET', `tenants/${tenant.id}/usage`);

  const cpu = new CpuMeter(async () => ({
    client: [process.pid],
    gateway: [gateway.process.pid!],
    ledger: [ledger.process.pid!],
    worker: worker?.child.process.pid ? [worker.child.process.pid] : [],
    ...(proxy ? { proxy: [proxy.process.pid!] } : {}),
    azurite: [azurite.pid!],
    postgres: await pidsNamed('postgres'),
    redis: await pidsNamed('redis-server'),
  }));
  /**
   * Times `work`, with the CPU every process spent meanwhile; `other` is what the rest of the machine
   * spent (other people's work on a shared VM: a high figure marks a disturbed sample) and `steal`
   * the time the hypervisor gave to other VMs.
   */
  const timed = async (bytes: number, work: (latencies: number[]) => Promise<void>): Promise<Sample> => {
    const sample: Sample = { bytes, seconds: 0, latencies: [] };
    const before = await cpu.snapshot();
    const machineBefore = await machineCpu();
    const start = performance.now();
    await work(sample.latencies);
    sample.seconds = (performance.now() - start) / 1000;
    const machineAfter = await machineCpu();
    const ours = CpuMeter.between(before, await cpu.snapshot());
    const tracked = Object.values(ours).reduce((sum, seconds) => sum + seconds, 0);
    sample.cpu = { ...ours, other: Math.max(0, machineAfter.busy - machineBefore.busy - tracked), steal: machineAfter.steal - machineBefore.steal };
    return sample;
  };
  const staged = async () => {
    const { rows: [row] } = await catalog.query<{ staged: number }>(`SELECT count(*)::int AS staged FROM objects WHERE state = 'staged'`);
    return row.staged;
  };
  const drained = async (deadlineMs = 600_000) => {
    const deadline = Date.now() + deadlineMs;
    while ((await staged()) > 0) {
      if (Date.now() > deadline) throw new Error(`objects still staged after ${deadlineMs / 1000} s`);
      await sleep(100);
    }
  };
  /** The sizes of the blobs in a container, summed (0 when it does not exist). */
  const containerBytes = async (name: string): Promise<number> => {
    let total = 0;
    try {
      for await (const blob of straight.getContainerClient(name).listBlobsFlat()) total += blob.properties.contentLength ?? 0;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode !== 404) throw error;
    }
    return total;
  };
  /**
   * What `work` did to `container` in Blob: the requests it made (counted from Azurite's access log,
   * once every answer is in it) and the bytes it added. The listings that measure those bytes fall
   * outside the counted requests.
   */
  const blobActivity = async <T>(container: string, work: () => Promise<T>): Promise<[T, BlobActivity]> => {
    const bytesBefore = await containerBytes(container);
    await blobLog.settled(blobEndpoint);
    const requestsBefore = blobLog.snapshot();
    const result = await work();
    await blobLog.settled(blobEndpoint);
    const counts = countsBetween(requestsBefore, blobLog.snapshot())[container] ?? { requests: {} };
    return [result, { counts, addedBytes: (await containerBytes(container)) - bytesBefore }];
  };
  /**
   * Starts the worker on a backlog (everything staged) and times it until nothing is staged; counts
   * the Blob requests it made meanwhile.
   */
  const drain = async (bytes: number, cacheHours: number, container: string): Promise<{ sample: Sample; activity: BlobActivity; ready: number }> => {
    if ((await staged()) === 0) throw new Error('nothing staged to drain');
    // The test server runs with autovacuum off, so the catalog would have no statistics, and the
    // planner would answer a claim of two chunks with a scan of every chunk not yet in a pack. In
    // production autovacuum analyzes a table once a tenth of it has changed; here that is done by hand.
    await catalog.query('ANALYZE');
    let ready = 0;
    const [sample, activity] = await blobActivity(container, () => timed(bytes, async () => {
      worker = startWorker(cacheHours);
      const { process: child } = worker.child;
      // a worker that dies (say, refuses to start) fails the bench at once rather than at the deadline
      const died = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`the worker exited (code ${code}) while draining`))));
      died.catch(() => undefined);
      await Promise.race([drained(), died]);
      ready = await Promise.race([worker.ready, sleep(10_000).then(() => Number.NaN)]);
    }));
    return { sample, activity, ready };
  };
  const cached = async (tenant: Tenant) => {
    const { rows: [row] } = await catalog.query<{ cached: number }>(`SELECT count(*)::int AS cached FROM objects WHERE tenant_id = $1 AND spool IS NOT NULL`, [tenant.id]);
    return row.cached;
  };

  // ---- the workloads, generated once (every round stores them for a tenant of its own) ----
  process.stderr.write('bench: generating data\n');
  const big: Dataset = {
    prefix: 'big',
    objects: Array.from({ length: BIG_COUNT }, (_, i) => fillLogLike(Buffer.allocUnsafe(BIG), 1000 + i)),
    puts: BIG_PUTS,
    bytes: BIG * BIG_COUNT,
  };
  const smallBytes = fillLogLike(Buffer.allocUnsafe(SMALL * SMALL_COUNT), 7);
  const small: Dataset = {
    prefix: 'small',
    objects: Array.from({ length: SMALL_COUNT }, (_, i) => smallBytes.subarray(i * SMALL, (i + 1) * SMALL)),
    puts: SMALL_PUTS,
    bytes: SMALL * SMALL_COUNT,
  };
  const sizes = treeSizes(TREE_FILES, TREE_BYTES);
  const tree = sizes.map((size, i) => fillRandom(Buffer.allocUnsafe(size), `tree-${i}`));
  const treeKey = (i: number) => `dir-${String(i % 17).padStart(2, '0')}/file-${String(i).padStart(4, '0')}.bin`;
  const changed = tree.map((file, i) => (i % CHANGE_EVERY === CHANGE_EVERY - 1 ? changeFile(file, i, i % (2 * CHANGE_EVERY) === CHANGE_EVERY - 1) : file));
  const treeBytes = tree.reduce((sum, file) => sum + file.length, 0);
  const changedBytes = changed.reduce((sum, file) => sum + file.length, 0);
  const changedFiles = changed.filter((file, i) => file !== tree[i]).length;

  const put = (tenant: Tenant, keys: (i: number) => string, objects: Buffer[], concurrency: number) =>
    pool(objects.length, concurrency, async (i) => {
      await tenant.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys(i), Body: objects[i] }));
    });
  const getFerry = (client: S3Client, set: Dataset) => async (latencies: number[]) =>
    pool(set.objects.length, GETS, async (i) => {
      const start = performance.now();
      const key = `${set.prefix}/${i}`;
      const response = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      await consume(response.Body as Readable, set.objects[i], key);
      latencies.push(performance.now() - start);
    });
  const uploadDirect = (container: ContainerClient, set: Dataset) => async () =>
    pool(set.objects.length, set.puts, async (i) => {
      await container.getBlockBlobClient(`${set.prefix}-${i}`).uploadData(set.objects[i], { blockSize: 8 * MiB, concurrency: 4 });
    });
  const getDirect = (container: ContainerClient, set: Dataset) => async (latencies: number[]) =>
    pool(set.objects.length, GETS, async (i) => {
      const start = performance.now();
      const response = await container.getBlobClient(`${set.prefix}-${i}`).download();
      await consume(response.readableStreamBody as Readable, set.objects[i], `${set.prefix}-${i}`);
      latencies.push(performance.now() - start);
    });

  // The restore passes that the targets are judged on: one plain HTTP client for both servers
  // (http-get.ts says why), GETS connections, each request signed as it is sent (SigV4 presigned
  // for Ferry; Azurite's SAS is made once, untimed, as a client holding one would).
  const getAllOver = async (port: number, set: Dataset, target: (i: number) => Promise<string>, latencies: number[]) => {
    const open = Array.from({ length: GETS }, () => new GetConnection('127.0.0.1', port));
    try {
      await getAll(open, set.objects.length, async (i) => ({ pathAndQuery: await target(i), expected: set.objects[i], what: `${set.prefix}/${i}` }), latencies);
    } finally {
      for (const connection of open) connection.close();
    }
  };
  const getFerryPlain = (tenant: Tenant, set: Dataset) => async (latencies: number[]) =>
    getAllOver(s3Port, set, (i) => tenant.presign(`/${BUCKET}/${set.prefix}/${i}`), latencies);
  /**
   * REPACK_BENCH_PERF=<dir>: `perf record` of the gateway while `work` runs, into <dir>/<name>.data
   * (diagnosis only; with REPACK_BENCH_GATEWAY_FLAGS=--perf-basic-prof for JavaScript's names).
   */
  const perfOf = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const dir = process.env.REPACK_BENCH_PERF;
    if (!dir) return work();
    const args = ['record', '-e', 'cpu-clock', '-F', '999', '-g', '-p', String(gateway.process.pid), '-o', join(dir, `${name}.data`)];
    const perf = spawnChild('perf', 'perf', args, { quiet: true });
    await sleep(300); // attached to every thread
    try {
      return await work();
    } finally {
      await perf.stop('SIGINT');
    }
  };
  const getDirectPlain = (sas: URL, set: Dataset) => async (latencies: number[]) =>
    getAllOver(Number(sas.port), set, async (i) => `${sas.pathname}/${set.prefix}-${i}${sas.search}`, latencies);

  /**
   * What a gateway reads before a timed pass of restores: another tenant's objects, in packs of their
   * own. As many 64 MiB objects as a pass reads at once, so that the gateway's read slabs reach what a
   * pass cycles through before it is timed: a gateway in service holds them, and a new one zeroes
   * 400-500 MiB of new pages in its first cold restore (about 120,000 page faults per GiB here). As
   * many 1 MiB objects as a pass reads: after 256 (until the eighteenth session), V8's compiler
   * threads were still at work through the timed cold pass, 17 % of the gateway's CPU in `perf`
   * (7 % after 1,024), and the main thread still ran unoptimized code.
   */
  const warmup: Dataset[] = [
    { prefix: 'big', objects: big.objects.slice(0, GETS), puts: BIG_PUTS, bytes: GETS * BIG },
    { prefix: 'small', objects: small.objects, puts: SMALL_PUTS, bytes: SMALL_COUNT * SMALL },
  ];
  /** The warm-up reads, with both clients: the plain one's presigned GETs and the SDK's. */
  const warmUp = async (tenant: Tenant) => {
    for (const set of warmup) {
      await getFerryPlain(tenant, set)([]);
      await getFerry(tenant.reader, set)([]);
    }
  };
  /** The same reads straight from Azurite, of the direct container's blobs, with both clients. */
  const warmUpDirect = async (sas: URL, container: ContainerClient) => {
    for (const set of warmup) {
      await getDirectPlain(sas, set)([]);
      await getDirect(container, set)([]);
    }
  };

  const results: RepackResults = {
    rounds,
    samples: {},
    requests: [],
    backups: [],
    quietWaits: [],
    workerReady: [],
    readyByDrain: {},
    dataset: {
      big: { count: BIG_COUNT, size: BIG },
      small: { count: SMALL_COUNT, size: SMALL },
      tree: { files: TREE_FILES, bytes: treeBytes, changedFiles, secondBytes: changedBytes, minSize: Math.min(...sizes), maxSize: Math.max(...sizes) },
    },
  };
  const record = (id: string, sample: Sample) => ((results.samples[id] ??= []).push(sample), sample);
  const requestCount = (round: number, what: RequestCount['what'], bytes: number, activity: BlobActivity) =>
    results.requests.push({ round, what, logicalBytes: bytes, ...activity });

  for (let round = 1; round <= rounds; round++) {
    const calm = await waitForQuiet(0.3, 2000, 60_000);
    results.quietWaits.push(calm);
    process.stderr.write(`bench: round ${round} of ${rounds}${calm.quiet ? '' : ' (the machine did not get quiet: others are using it)'}, after ${calm.waited.toFixed(0)} s\n`);
    const drainTenant = await createTenant(`drain-${round}`);
    const backupTenant = await createTenant(`backup-${round}`);
    const direct = straight.getContainerClient(`direct-${runId}-${round}`);
    await direct.create();

    // (1) drains: acknowledged with the worker stopped, then drained by a worker started afresh
    for (const set of [big, small]) {
      await stopWorker();
      await put(drainTenant, (i) => `${set.prefix}/${i}`, set.objects, set.puts);
      const drained = await drain(set.bytes, 48, drainTenant.container);
      record(`drain-${set.prefix}`, drained.sample);
      requestCount(round, `ferry-${set.prefix}`, set.bytes, drained.activity);
      results.workerReady.push(drained.ready);
      (results.readyByDrain[`drain-${set.prefix}`] ??= []).push(drained.ready);
    }
    // the worker (48 h cache window) stays up, idle: everything is stored and still in the spool

    // (1b) the same drains by a worker in service: the one that has just drained the sets above (its
    // code optimized by V8, its pools and buffers grown), with its queue paused while the backlog is
    // acknowledged and resumed when the clock starts. A worker started afresh for a backlog spends
    // about a second starting and more compiling its hot paths while it drains, which a worker that
    // has been running does not. Another tenant, so nothing deduplicates against (1).
    const serviceTenant = await createTenant(`service-${round}`);
    for (const set of [big, small]) {
      await forward.pause();
      await put(serviceTenant, (i) => `${set.prefix}/${i}`, set.objects, set.puts);
      await catalog.query('ANALYZE');
      record(`service-${set.prefix}`, await timed(set.bytes, async () => (await forward.resume(), await drained())));
    }

    // (2) the same bytes straight to Azurite, the 1 MiB objects' requests counted as the worker's are
    for (const set of [big, small]) {
      const [sample, activity] = await blobActivity(direct.containerName, () => timed(set.bytes, uploadDirect(direct, set)));
      record(`direct-${set.prefix}`, sample);
      if (set === small) requestCount(round, `direct-${set.prefix}`, set.bytes, activity);
    }
    if (process.env.REPACK_BENCH_DRAIN_ONLY) {
      await stopWorker();
      await direct.delete();
      process.stderr.write(`\n${roundTable(results, round)}\n`);
      continue;
    }

    // the warm-up tenant's objects, stored by the worker that is up (before anything is timed)
    const warmTenant = await createTenant(`warmup-${round}`);
    for (const set of warmup) await put(warmTenant, (i) => `${set.prefix}/${i}`, set.objects, set.puts);
    await drained();

    // (3) warm restore: every object is still in the spool cache
    if ((await cached(drainTenant)) !== BIG_COUNT + SMALL_COUNT) throw new Error('the drain set is no longer all in the spool cache');
    // Each pass of Ferry's is followed at once by the same pass straight to Azurite, so that a
    // shift in the machine's speed within the round moves both sides of a ratio.
    const sas = new URL(await direct.generateSasUrl({ permissions: ContainerSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 4 * 3600_000) }));
    await warmUp(warmTenant);
    await warmUpDirect(sas, direct);
    for (const set of [big, small]) {
      record(`warm-${set.prefix}`, await perfOf(`warm-${set.prefix}-${round}`, () => timed(set.bytes, getFerryPlain(drainTenant, set))));
      record(`get-${set.prefix}`, await timed(set.bytes, getDirectPlain(sas, set)));
      record(`warm-sdk-${set.prefix}`, await timed(set.bytes, getFerry(drainTenant.reader, set)));
      record(`get-sdk-${set.prefix}`, await timed(set.bytes, getDirect(direct, set)));
    }
    if ((await cached(drainTenant)) !== BIG_COUNT + SMALL_COUNT) throw new Error('the cache was evicted during the warm reads');

    // (4) cold restore: a worker with a 0 h window evicts the cache, then every read goes to the packs
    await stopWorker();
    worker = startWorker(0);
    await worker.ready;
    await maintenance.add(JobName.EvictCache, {}, { removeOnComplete: true, removeOnFail: true });
    for (const deadline = Date.now() + 120_000; (await cached(drainTenant)) + (await cached(warmTenant)) + (await cached(serviceTenant)) > 0; await sleep(100)) {
      if (Date.now() > deadline) throw new Error('the spool cache was not evicted within 2 minutes');
    }
    // Each pass of cold reads gets a gateway of its own, so none finds what another fetched ahead
    // (and, when profiling, its profile holds nothing else): the plain client's, each set followed
    // by its direct GET; the SDK's; and the SDK's checking CRC32 as it does by default (the
    // client's own cost, on the same two cores).
    const restartGateway = async () => {
      await gateway.stop();
      gateway = app('gateway');
      await waitForPort(s3Port);
    };
    await restartGateway();
    await warmUp(warmTenant);
    for (const set of [big, small]) {
      // the Blob requests each side made for it: Blob bills reads per request too
      const [cold, packReads] = await blobActivity(drainTenant.container, () =>
        perfOf(`cold-${set.prefix}-${round}`, () => timed(set.bytes, getFerryPlain(drainTenant, set))),
      );
      record(`cold-${set.prefix}`, cold);
      requestCount(round, `read-ferry-${set.prefix}`, set.bytes, packReads);
      const [get, blobReads] = await blobActivity(direct.containerName, () => timed(set.bytes, getDirectPlain(sas, set)));
      record(`get-cold-${set.prefix}`, get);
      requestCount(round, `read-direct-${set.prefix}`, set.bytes, blobReads);
    }
    for (const [id, client] of [['cold-sdk', drainTenant.reader], ['cold-crc', drainTenant.s3]] as const) {
      await restartGateway();
      await warmUp(warmTenant);
      for (const set of [big, small]) record(`${id}-${set.prefix}`, await timed(set.bytes, getFerry(client, set)));
    }
    if (profile.length > 0) await restartGateway();
    await direct.delete();

    // (5) two full backups of one tree, 5 % of its files changed in between
    const backup: Partial<BackupResult> = { round };
    for (const n of [1, 2]) {
      const files = n === 1 ? tree : changed;
      await stopWorker();
      const upload = await timed(n === 1 ? treeBytes : changedBytes, () => put(backupTenant, (i) => `backup-${n}/${treeKey(i)}`, files, TREE_PUTS));
      record(`upload-backup-${n}`, upload);
      const drained = await drain(upload.bytes, 0, backupTenant.container);
      record(`drain-backup-${n}`, drained.sample);
      requestCount(round, `ferry-backup-${n}`, upload.bytes, drained.activity);
      const after = await usage(backupTenant);
      if (after.pendingBytes !== 0) throw new Error(`backup ${n}: ${after.pendingBytes} bytes still pending`);
      if (n === 1) backup.first = after;
      else backup.second = after;
    }
    await stopWorker();
    results.backups.push(backup as BackupResult);
    process.stderr.write(`\n${roundTable(results, round)}\n`);
  }
  const section = repackReport(results);
  process.stdout.write(`\n${section}\n`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
