/**
 * `npm run bench [-- rounds]`: gateway ingest beside the same workload written straight to Azurite,
 * in the same run, repeated for a number of rounds (default 3) because a shared VM's figures move
 * from run to run:
 *  (a) 4 parallel 256 MiB multipart uploads (lib-storage, 8 MiB parts, 4 in flight each)
 *  (b) 1 MiB objects, 32 at a time
 *  (c) one 2 GiB PutObject streamed from a file (aws-chunked with a trailing checksum), which shows
 *      that the gateway's memory does not grow with the object
 * Prints MB/s, the ratios, p50/p99 latency for (b), the gateway's peak RSS per workload, the CPU
 * seconds per GiB each process spent (client, gateway, worker, Azurite, Postgres, Redis) and how long
 * the worker took to drain the spool to Blob; writes the results to docs/benchmarks.md.
 * Needs the test services: PostgreSQL on 127.0.0.1:5432 (trust) and Redis on 127.0.0.1:6379.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobServiceClient, type ContainerClient } from '@azure/storage-blob';
import pg from 'pg';
import { prepareTemplateDatabase, freshDatabase } from '@ferry/testing';
import { appEnvironment, appMain, appNodeFlags, lowerPriority } from '../../apps/ferry/src/app-env.js';
import { startAzurite } from '../../apps/ferry/src/embedded/azurite.js';
import { spawnChild, type Child } from '../../apps/ferry/src/embedded/child.js';
import { waitForPort } from '../../apps/ferry/src/embedded/free-port.js';
import { benchConfig } from './bench-config.js';
import { recordResults, report, type Row, type Sample } from './bench-report.js';
import { CpuMeter, pidsNamed } from './cpu-meter.js';

const MiB = 1024 * 1024;
const LARGE = 256 * MiB;
const LARGE_COUNT = 4;
const SMALL = MiB;
const SMALL_COUNT = 768;
const SMALL_CONCURRENCY = 32;
const HUGE = 2048 * MiB;
const root = fileURLToPath(new URL('../../../', import.meta.url));

async function pool(count: number, concurrency: number, task: (index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) await task(next++);
  }));
}

/** The process's resident high-water mark, and a way to start it afresh (Linux clear_refs 5). */
const rss = {
  async peak(pid: number): Promise<number> {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
  },
  reset: (pid: number) => writeFile(`/proc/${pid}/clear_refs`, '5'),
};

/** A file of random bytes written 8 MiB at a time, never held whole in memory. */
async function randomFile(path: string, size: number): Promise<void> {
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size; written += 8 * MiB) await file.write(randomBytes(Math.min(8 * MiB, size - written)));
  } finally {
    await file.close();
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, not ${process.argv[2]}`);
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-bench-'));
  // Ferry forwards to an Azurite that keeps its data on disk, as `npm start` runs it; a second one
  // in memory gives the most demanding baseline (it stores nothing durably).
  const azurite = await startAzurite({ location: join(dataDir, 'azurite') });
  lowerPriority(azurite.pid); // as npm start runs its embedded Azurite
  const memoryAzurite = await startAzurite();
  await prepareTemplateDatabase();
  const db = await freshDatabase();
  const config = await benchConfig({ dataDir, databaseUrl: db.url, azurite: azurite.connectionString, containerLetter: 'b' });
  const [s3Port, consolePort] = [config.s3Port, config.consolePort];
  const run = randomBytes(4).toString('hex'); // names the direct uploads' containers

  const env = appEnvironment(config);
  // as the launcher starts them, Node flags included
  const app = (name: string): Child =>
    spawnChild(name, process.execPath, [...appNodeFlags(name), appMain(join(root, 'dist'), name)], { env });
  const ledger = app('ledger');
  const consoleApp = app('console');
  const gateway = app('gateway');
  // as npm start runs it: forwarding is deferred work
  const startWorker = () => {
    const child = app('worker');
    lowerPriority(child.process.pid);
    return child;
  };
  let worker = startWorker();
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
    const services = {
      disk: BlobServiceClient.fromConnectionString(azurite.connectionString),
      memory: BlobServiceClient.fromConnectionString(memoryAzurite.connectionString),
    };

    const large = randomBytes(LARGE);
    const small = randomBytes(SMALL);
    const hugeFile = join(dataDir, 'huge.bin');
    await randomFile(hugeFile, HUGE);
    const workloads = {
      a: {
        bytes: LARGE * LARGE_COUNT,
        direct: (direct: ContainerClient) =>
          Promise.all(
            Array.from({ length: LARGE_COUNT }, (_, index) =>
              direct.getBlockBlobClient(`large-${index}`).uploadData(large, { blockSize: 8 * MiB, concurrency: 4 }),
            ),
          ).then(() => undefined),
        ferry: (tag: string) =>
          Promise.all(
            Array.from({ length: LARGE_COUNT }, (_, index) =>
              new Upload({ client: s3, params: { Bucket: 'bench', Key: `${tag}/large-${index}`, Body: large }, partSize: 8 * MiB, queueSize: 4 }).done(),
            ),
          ).then(() => undefined),
      },
      b: {
        bytes: SMALL * SMALL_COUNT,
        direct: (direct: ContainerClient, latencies: number[]) =>
          pool(SMALL_COUNT, SMALL_CONCURRENCY, async (index) => {
            const start = performance.now();
            await direct.getBlockBlobClient(`small-${index}`).uploadData(small);
            latencies.push(performance.now() - start);
          }),
        ferry: (tag: string, latencies: number[]) =>
          pool(SMALL_COUNT, SMALL_CONCURRENCY, async (index) => {
            const start = performance.now();
            await s3.send(new PutObjectCommand({ Bucket: 'bench', Key: `${tag}/small-${index}`, Body: small }));
            latencies.push(performance.now() - start);
          }),
      },
      c: {
        bytes: HUGE,
        direct: (direct: ContainerClient) =>
          // the Azure SDK's best for a file: 8 MiB blocks read and staged 4 at a time
          direct.getBlockBlobClient('huge').uploadFile(hugeFile, { blockSize: 8 * MiB, concurrency: 4 }).then(() => undefined),
        ferry: (tag: string) =>
          s3
            .send(new PutObjectCommand({ Bucket: 'bench', Key: `${tag}/huge`, Body: createReadStream(hugeFile, { highWaterMark: MiB }), ContentLength: HUGE }))
            .then(() => undefined),
      },
    };
    type Group = keyof typeof workloads;
    const titles: Record<Group, string> = {
      a: `(a) ${LARGE_COUNT} × 256 MiB multipart`,
      b: `(b) ${SMALL_COUNT} × 1 MiB, ${SMALL_CONCURRENCY} at a time`,
      c: `(c) 1 × 2 GiB PutObject, streamed`,
    };
    const rows: Row[] = [];
    const row = (group: Group, label: string, baseline?: Row['baseline']): Row => {
      const name = `${titles[group]} — ${label}`;
      let found = rows.find((candidate) => candidate.name === name);
      if (!found) rows.push((found = { group, name, baseline, samples: [] }));
      return found;
    };
    /** Runs one workload; for the gateway's own workloads, records its peak RSS during it alone. */
    const timed = async (target: Row, bytes: number, work: (latencies: number[]) => Promise<void>, gatewayRss = !target.baseline) => {
      const sample: Sample = { bytes, seconds: 0, latencies: [] };
      if (gatewayRss) await rss.reset(gateway.process.pid!);
      const cpuBefore = await cpu.snapshot();
      const start = performance.now();
      await work(sample.latencies);
      sample.seconds = (performance.now() - start) / 1000;
      sample.cpu = CpuMeter.between(cpuBefore, await cpu.snapshot());
      if (gatewayRss) sample.gatewayPeakRss = await rss.peak(gateway.process.pid!);
      target.samples.push(sample);
    };
    const cpu = new CpuMeter(async () => ({
      client: [process.pid],
      gateway: [gateway.process.pid!],
      ledger: [ledger.process.pid!],
      worker: [worker.process.pid!],
      azurite: [azurite.pid!, memoryAzurite.pid!],
      postgres: await pidsNamed('postgres'),
      redis: await pidsNamed('redis-server'),
    }));
    const drained = async () => {
      for (;;) {
        const { rows: [{ staged }] } = await catalog.query(`SELECT count(*)::int AS staged FROM objects WHERE state = 'staged'`);
        if (staged === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    const drain: Row = { group: 'drain', name: 'drain of the deferred backlog (spool → Blob)', samples: [] };

    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`bench: round ${round} of ${rounds}\n`);
      // a container per round, the last one deleted, so the in-memory Azurite does not fill the RAM
      const containers = { disk: services.disk.getContainerClient(`direct-${run}-${round}`), memory: services.memory.getContainerClient(`direct-${run}-${round}`) };
      await containers.disk.create();
      await containers.memory.create();
      for (const group of ['a', 'b', 'c'] as const) {
        const workload = workloads[group];
        await timed(row(group, 'direct to Azurite on disk', 'disk'), workload.bytes, (latencies) => workload.direct(containers.disk, latencies));
        // 2 GiB per round would only measure the in-memory Azurite's garbage collector
        if (group !== 'c') {
          await timed(row(group, 'direct to Azurite in memory', 'memory'), workload.bytes, (latencies) => workload.direct(containers.memory, latencies));
        }
        await timed(row(group, 'Ferry, forwarding at once'), workload.bytes, (latencies) => workload.ferry('now', latencies));
        await drained();
      }
      // Store-and-forward proper: acknowledge during the backup window, forward afterwards.
      await worker.stop();
      for (const group of ['a', 'b', 'c'] as const) {
        await timed(row(group, 'Ferry, forwarding deferred'), workloads[group].bytes, (latencies) => workloads[group].ferry('later', latencies));
      }
      worker = startWorker();
      await timed(drain, workloads.a.bytes + workloads.b.bytes + workloads.c.bytes, drained, false);
      await containers.disk.delete();
      await containers.memory.delete();
    }
    const section = report([...rows, drain], rounds, [
      'Ferry rows are the rate at which the gateway acknowledges: bytes fsync’d in the spool, MD5 and checksums verified, catalogued in Postgres.',
      'The gateway peak RSS of a row is its high-water mark during that workload alone (reset before each one).',
    ]);
    process.stdout.write(`\n${section}\n`);
    await recordResults(join(root, 'docs', 'benchmarks.md'), section);
  } finally {
    await catalog.end().catch(() => undefined);
    for (const child of [worker, gateway, consoleApp, ledger]) await child.stop();
    await azurite.stop();
    await memoryAzurite.stop();
    await db.drop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

await main();
