/**
 * `npm run bench`: gateway ingest beside the same workload written straight to Azurite, in one run.
 *  (a) 4 parallel 256 MiB multipart uploads (lib-storage, 8 MiB parts, 4 in flight each)
 *  (b) 1 MiB objects, 32 at a time
 * Prints MB/s, the ratio, p50/p99 latency for (b), the gateway's peak RSS, and how long the worker
 * took to drain the spool to Blob; writes the results to docs/benchmarks.md.
 * Needs the test services: PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379.
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile, mkdtemp, rm } from 'node:fs/promises';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import pg from 'pg';
import { loadConfig, requireResolved } from '@ferry/config';
import { prepareTemplateDatabase, freshDatabase, TEST_REDIS_URL } from '@ferry/testing';
import { appEnvironment, lowerPriority } from '../../apps/ferry/src/app-env.js';
import { startAzurite } from '../../apps/ferry/src/embedded/azurite.js';
import { spawnChild, type Child } from '../../apps/ferry/src/embedded/child.js';
import { freePort, waitForPort } from '../../apps/ferry/src/embedded/free-port.js';

const MiB = 1024 * 1024;
const LARGE = 256 * MiB;
const LARGE_COUNT = 4;
const SMALL = MiB;
const SMALL_COUNT = 768;
const SMALL_CONCURRENCY = 32;
const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Figure {
  name: string;
  bytes: number;
  seconds: number;
  latencies?: number[];
}

const mbps = (figure: Figure) => figure.bytes / 1e6 / figure.seconds;
const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
};

async function timed(name: string, bytes: number, work: (latencies: number[]) => Promise<void>): Promise<Figure> {
  const latencies: number[] = [];
  const start = performance.now();
  await work(latencies);
  return { name, bytes, seconds: (performance.now() - start) / 1000, latencies };
}

async function pool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++);
  }));
}

async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function main(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  // Ferry forwards to an Azurite that keeps its data on disk, as `npm start` runs it; a second one
  // in memory gives the most demanding baseline (it stores nothing durably).
  const azurite = await startAzurite({ location: join(dataDir, 'azurite') });
  lowerPriority(azurite.pid); // as npm start runs its embedded Azurite
  const memoryAzurite = await startAzurite();
  await prepareTemplateDatabase();
  const db = await freshDatabase();
  const [s3Port, consolePort] = [await freePort(), await freePort()];
  const run = randomBytes(4).toString('hex');
  const config = requireResolved(
    loadConfig({
      FERRY_DATA_DIR: dataDir,
      FERRY_S3_PORT: String(s3Port),
      FERRY_CONSOLE_PORT: String(consolePort),
      FERRY_ADMIN_TOKEN: `bench-admin-token-${run}`,
      FERRY_MASTER_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: db.url,
      REDIS_URL: TEST_REDIS_URL,
      AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString,
      FERRY_QUEUE_PREFIX: `ferry-bench-${run}`,
      FERRY_CONTAINER_PREFIX: `b${run}-`,
      LOG_LEVEL: 'warn',
    }),
  );
  const env = appEnvironment(config);
  const app = (name: string): Child =>
    spawnChild(name, process.execPath, [join(root, 'dist', 'apps', name, 'src', 'main.js')], { env });
  const consoleApp = app('console');
  const gateway = app('gateway');
  let worker = app('worker');
  lowerPriority(worker.process.pid);
  const catalog = new pg.Client({ connectionString: db.url });
  try {
    await waitForPort(s3Port);
    await waitForPort(consolePort);
    await catalog.connect();
    const created = await fetch(`http://127.0.0.1:${consolePort}/admin/v1/tenants`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${config.adminToken.reveal()}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'bench', quotaBytes: 1e13 }),
    }).then((response) => response.json() as Promise<{ id: string; accessKeyId: string; secretAccessKey: string }>);
    const s3 = new S3Client({
      endpoint: `http://127.0.0.1:${s3Port}`,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'bench' }));
    const onDisk = BlobServiceClient.fromConnectionString(azurite.connectionString).getContainerClient(`direct-${run}`);
    const inMemory = BlobServiceClient.fromConnectionString(memoryAzurite.connectionString).getContainerClient(`direct-${run}`);
    await onDisk.create();
    await inMemory.create();

    const large = randomBytes(LARGE);
    const small = randomBytes(SMALL);
    const workloads = {
      largeDirect: (direct: ContainerClient) =>
        Promise.all(
          Array.from({ length: LARGE_COUNT }, (_, index) =>
            direct.getBlockBlobClient(`large-${index}`).uploadData(large, { blockSize: 8 * MiB, concurrency: 4 }),
          ),
        ).then(() => undefined),
      largeFerry: (tag: string) =>
        Promise.all(
          Array.from({ length: LARGE_COUNT }, (_, index) =>
            new Upload({ client: s3, params: { Bucket: 'bench', Key: `${tag}/large-${index}`, Body: large }, partSize: 8 * MiB, queueSize: 4 }).done(),
          ),
        ).then(() => undefined),
      smallDirect: (direct: ContainerClient, latencies: number[]) =>
        pool(SMALL_COUNT, SMALL_CONCURRENCY, async (index) => {
          const start = performance.now();
          await direct.getBlockBlobClient(`small-${index}`).uploadData(small);
          latencies.push(performance.now() - start);
        }),
      smallFerry: (tag: string, latencies: number[]) =>
        pool(SMALL_COUNT, SMALL_CONCURRENCY, async (index) => {
          const start = performance.now();
          await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: `${tag}/small-${index}`, Body: small }));
          latencies.push(performance.now() - start);
        }),
    };
    const drained = async () => {
      for (;;) {
        const { rows } = await catalog.query(`SELECT count(*)::int AS staged FROM objects WHERE state = 'staged'`);
        if (rows[0].staged === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    const figures: Figure[] = [];
    const large4 = `(a) ${LARGE_COUNT} × 256 MiB multipart`;
    const small32 = `(b) ${SMALL_COUNT} × 1 MiB, ${SMALL_CONCURRENCY} at a time`;
    figures.push(await timed(`${large4} — direct to Azurite on disk`, LARGE * LARGE_COUNT, () => workloads.largeDirect(onDisk)));
    figures.push(await timed(`${large4} — direct to Azurite in memory`, LARGE * LARGE_COUNT, () => workloads.largeDirect(inMemory)));
    figures.push(await timed(`${large4} — Ferry, forwarding at once`, LARGE * LARGE_COUNT, () => workloads.largeFerry('now')));
    await drained();
    figures.push(await timed(`${small32} — direct to Azurite on disk`, SMALL * SMALL_COUNT, (latencies) => workloads.smallDirect(onDisk, latencies)));
    figures.push(await timed(`${small32} — direct to Azurite in memory`, SMALL * SMALL_COUNT, (latencies) => workloads.smallDirect(inMemory, latencies)));
    figures.push(await timed(`${small32} — Ferry, forwarding at once`, SMALL * SMALL_COUNT, (latencies) => workloads.smallFerry('now', latencies)));
    await drained();

    // Store-and-forward proper: acknowledge during the backup window, forward afterwards.
    await worker.stop();
    figures.push(await timed(`${large4} — Ferry, forwarding deferred`, LARGE * LARGE_COUNT, () => workloads.largeFerry('later')));
    figures.push(await timed(`${small32} — Ferry, forwarding deferred`, SMALL * SMALL_COUNT, (latencies) => workloads.smallFerry('later', latencies)));
    const gatewayPeak = await peakRss(gateway.process.pid!);
    worker = app('worker');
    figures.push(
      await timed('drain of the deferred backlog (spool → Blob)', LARGE * LARGE_COUNT + SMALL * SMALL_COUNT, async () => {
        await drained();
      }),
    );
    await appendResults(report(figures, gatewayPeak));
  } finally {
    await catalog.end().catch(() => undefined);
    for (const child of [worker, gateway, consoleApp]) await child.stop();
    await azurite.stop();
    await memoryAzurite.stop();
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

function report(figures: Figure[], gatewayPeak: number): string {
  const lines = [
    `| workload | MB/s | vs Azurite on disk | vs Azurite in memory | p50 ms | p99 ms |`,
    `|---|---|---|---|---|---|`,
    ...figures.map((figure) => {
      const latency = figure.latencies && figure.latencies.length > 0;
      const ratio = (suffix: string) => {
        const baseline = figures.find((other) => other.name.endsWith(suffix) && other.name.slice(0, 3) === figure.name.slice(0, 3));
        return baseline && baseline !== figure && figure.name.includes('Ferry') ? `${(mbps(figure) / mbps(baseline)).toFixed(2)}×` : '–';
      };
      const p = (n: number) => (latency ? percentile(figure.latencies!, n).toFixed(1) : '–');
      return `| ${figure.name} | ${mbps(figure).toFixed(1)} | ${ratio('on disk')} | ${ratio('in memory')} | ${p(50)} | ${p(99)} |`;
    }),
  ];
  const summary = [`- gateway peak RSS over the whole run: ${(gatewayPeak / MiB).toFixed(0)} MiB`];
  const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`;
  const text = [`## Ingest — ${new Date().toISOString()}`, '', `Machine: ${machine}`, '', ...lines, '', ...summary, ''].join('\n');
  process.stdout.write(`\n${text}\n`);
  return text;
}

/** Replaces the previous run's section (everything from its heading on), keeping the notes above it. */
async function appendResults(section: string): Promise<void> {
  const path = join(root, 'docs', 'benchmarks.md');
  const current = await readFile(path, 'utf8').catch(() => '# Benchmarks\n');
  const previous = current.indexOf('\n## Ingest — ');
  const kept = (previous === -1 ? current : current.slice(0, previous)).trimEnd();
  await writeFile(path, `${kept}\n\n${section}`);
}

await main();
