/**
 * `npm run bench:packing [-- rounds]`: the packing pool alone (FastCDC, keyed chunk ids, zstd,
 * AES-GCM), driven as the worker drives it (RepackObjectHandler): two threads, 128 objects in flight,
 * each cut, then encoded in batches of up to 8 MiB into one of four shared slabs. Every object is
 * first written with O_DIRECT, as the gateway spools it, so every read of it goes to the disk.
 *
 * Compares the worker's `SPOOL_TASKS_PER_THREAD` against one task per thread (the baseline, as the
 * worker ran before the thirteenth session), alternated within each round, on 1 GiB of 1 MiB and
 * 1 GiB of 64 MiB log-like objects. Reports MB/s, the cores the machine kept busy, the cores that
 * sat in iowait, and this process's CPU (threads included) per GiB. Prints a markdown section for
 * docs/benchmarks.md to stdout; needs nothing but a disk that takes O_DIRECT (else plain writes).
 */
import { closeSync, constants, openSync, writeSync, fsyncSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlabPool } from '@ferry/common';
import { DEFAULT_CHUNKING, ENCODE_SLAB_BYTES, encodeBatches, PackingPool, SPOOL_TASKS_PER_THREAD } from '@ferry/packing';
import { fillLogLike } from './bench-data.js';
import { machineCpu } from './machine-cpu.js';
import { spread } from './repack-report.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const THREADS = 2;
const JOBS = 128;
/** As RepackObjectHandler: two encode slabs per thread. */
const SLABS = 2 * THREADS;
const SETS = [
  { name: '1,024 × 1 MiB', size: MiB, count: 1024 },
  { name: '16 × 64 MiB', size: 64 * MiB, count: 16 },
];

interface Sample {
  mbps: number;
  busy: number;
  iowait: number;
  cpuPerGiB: number;
}

/** Writes `data` to `path` with O_DIRECT where the filesystem takes it (the spool's way), else with fsync. */
function writeDirect(path: string, data: Buffer, aligned: Buffer): void {
  let fd: number;
  let direct = true;
  try {
    fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT);
  } catch {
    fd = openSync(path, 'w');
    direct = false;
  }
  try {
    // the objects' sizes are whole MiB, so every direct write is aligned
    for (let at = 0; at < data.length; at += aligned.length) {
      const length = Math.min(aligned.length, data.length - at);
      data.copy(aligned, 0, at, at + length);
      writeSync(fd, aligned, 0, length);
    }
    if (!direct) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Cuts and encodes every object as the worker does, `JOBS` at a time. */
async function pack(pool: PackingPool, paths: string[], size: number): Promise<void> {
  const idKey = Buffer.alloc(32, 7);
  const dataKey = Buffer.alloc(32, 9);
  const slabs = new SlabPool(ENCODE_SLAB_BYTES, SLABS, SLABS);
  let next = 0;
  await Promise.all(
    Array.from({ length: JOBS }, async () => {
      while (next < paths.length) {
        const pieces = [{ path: paths[next++], size }];
        const cut = await pool.cut({ pieces, idKey, params: DEFAULT_CHUNKING });
        const chunks = cut.offsets.map((offset, i) => ({ id: cut.ids.subarray(i * 32, i * 32 + 32), offset, length: cut.lengths[i] }));
        for (const batch of encodeBatches(chunks)) {
          const slab = await slabs.acquire();
          try {
            await pool.encode({ pieces, chunks: batch, dataKey, zstdLevel: 1 }, slab);
          } finally {
            slabs.settle(slab);
          }
        }
      }
    }),
  );
}

async function timed(tasksPerThread: number, paths: string[], size: number): Promise<Sample> {
  const pool = await PackingPool.start(THREADS, tasksPerThread);
  try {
    // a pool in service has its threads' code optimized and their buffers grown
    await pack(pool, paths.slice(0, Math.min(paths.length, 8)), size);
    const before = await machineCpu();
    const cpu = process.cpuUsage();
    const start = performance.now();
    await pack(pool, paths, size);
    const seconds = (performance.now() - start) / 1000;
    const after = await machineCpu();
    const used = process.cpuUsage(cpu);
    const cores = THREADS / (after.total - before.total);
    const bytes = paths.length * size;
    return {
      mbps: bytes / 1e6 / seconds,
      busy: (after.busy - before.busy) * cores,
      iowait: (after.iowait - before.iowait) * cores,
      cpuPerGiB: (used.user + used.system) / 1e6 / (bytes / GiB),
    };
  } finally {
    await pool.close();
  }
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[2] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error(`rounds must be a positive integer, not ${process.argv[2]}`);
  const dir = await mkdtemp(join(tmpdir(), 'ferry-packing-bench-'));
  try {
    const aligned = Buffer.from(new WebAssembly.Memory({ initial: (4 * MiB) / (64 * 1024) }).buffer);
    const data = new Map<string, string[]>();
    for (const set of SETS) {
      const object = Buffer.allocUnsafe(set.size);
      const paths: string[] = [];
      for (let i = 0; i < set.count; i++) {
        const path = join(dir, `${set.size}-${i}`);
        writeDirect(path, fillLogLike(object, i), aligned);
        paths.push(path);
      }
      data.set(set.name, paths);
    }
    const variants = [1, SPOOL_TASKS_PER_THREAD];
    const samples = new Map<string, Sample[]>();
    for (let round = 1; round <= rounds; round++) {
      process.stderr.write(`bench: round ${round} of ${rounds}\n`);
      for (const set of SETS) {
        for (const tasks of round % 2 ? variants : [...variants].reverse()) {
          const sample = await timed(tasks, data.get(set.name)!, set.size);
          const key = `${set.name}|${tasks}`;
          samples.set(key, [...(samples.get(key) ?? []), sample]);
          process.stderr.write(`  ${set.name}, ${tasks} task(s) per thread: ${sample.mbps.toFixed(1)} MB/s, ${sample.busy.toFixed(2)} cores busy, ${sample.iowait.toFixed(2)} in iowait\n`);
        }
      }
    }
    const out: string[] = [
      `## Packing pool — ${new Date().toISOString()}`,
      '',
      `${rounds} round(s), medians (min–max); the two settings alternate within each round. Ratio: MB/s against one task per thread in the same round.`,
      '',
      '| objects | tasks per thread | MB/s | vs 1 task per thread | cores busy | iowait (cores) | CPU-s per GiB |',
      '|---|---|---|---|---|---|---|',
    ];
    for (const set of SETS) {
      const base = samples.get(`${set.name}|1`)!;
      for (const tasks of variants) {
        const list = samples.get(`${set.name}|${tasks}`)!;
        const ratios = list.map((sample, i) => sample.mbps / base[i].mbps);
        out.push(
          `| ${set.name} | ${tasks} | ${spread(list.map((s) => s.mbps), 1)} | ${tasks === 1 ? '–' : spread(ratios, 2, '×')} | ${spread(list.map((s) => s.busy), 2)} | ${spread(list.map((s) => s.iowait), 2)} | ${spread(list.map((s) => s.cpuPerGiB), 2)} |`,
        );
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
