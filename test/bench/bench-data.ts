/**
 * Deterministic workloads for repack.bench.ts: the same seed gives the same bytes on every run and
 * machine, and no two seeds share a chunk (so dedup finds only what a test puts there on purpose).
 */
import { createCipheriv, createHash } from 'node:crypto';

const KiB = 1024;
const MiB = 1024 * KiB;

/** xorshift32: fast, deterministic, good enough to pick words and sizes. */
export function prng(seed: number): () => number {
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state;
  };
}

const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'DEBUG', 'WARN ', 'ERROR'];
const METHODS = ['GET', 'GET', 'GET', 'PUT', 'POST', 'DELETE', 'HEAD'];
const PATHS = ['/api/v1/users/', '/api/v1/orders/', '/static/img/', '/api/v2/search?q=', '/healthz', '/api/v1/invoices/', '/backup/chunks/'];
const SERVICES = ['gateway', 'worker', 'billing', 'auth', 'search', 'scheduler'];
const STATUSES = [200, 200, 200, 201, 204, 304, 404, 500];
const MESSAGES = ['request completed', 'cache miss, fetching from origin', 'slow query detected', 'retrying upstream call', 'connection reset by peer', 'token refreshed'];
const HEX = '0123456789abcdef';

/** 65,536 distinct access-log lines (~8 MiB), built once: the vocabulary of `fillLogLike`. */
let lines: Buffer[] | undefined;
function logLines(): Buffer[] {
  if (lines) return lines;
  const next = prng(12345);
  lines = [];
  for (let n = 0; n < 65_536; n++) {
    let id = '';
    for (let i = 0; i < 24; i++) id += HEX[next() & 15];
    const ip = `10.${next() % 256}.${next() % 256}.${next() % 256}`;
    lines.push(
      Buffer.from(
        `${LEVELS[next() % LEVELS.length]} [${SERVICES[next() % SERVICES.length]}-${next() % 32}] ${METHODS[next() % METHODS.length]} ` +
          `${PATHS[next() % PATHS.length]}${next() % 100_000} ip=${ip} status=${STATUSES[next() % STATUSES.length]} bytes=${next() % 65_536} ` +
          `dur=${(next() % 100_000) / 100}ms req=${id} msg="${MESSAGES[next() % MESSAGES.length]}"\n`,
        'latin1',
      ),
    );
  }
  return lines;
}

/**
 * Fills `buffer` with log-like text: each line a 12-digit sequence number that only grows within the
 * seed, then a line picked at random from the vocabulary. zstd level 1 takes it to about 1/3.7 of
 * its size in 1 MiB chunks; no two seeds (and no two places of one seed) share a chunk.
 */
export function fillLogLike(buffer: Buffer, seed: number): Buffer {
  const vocabulary = logLines();
  const next = prng(Math.imul(seed + 1, 0x9e3779b1));
  const digits = Buffer.alloc(13, 0x20);
  let sequence = seed * 10_000_000;
  let at = 0;
  while (at < buffer.length) {
    sequence += 1 + (next() & 7);
    let value = sequence;
    for (let i = 11; i >= 0; i--) {
      digits[i] = 48 + (value % 10);
      value = Math.floor(value / 10);
    }
    at += digits.copy(buffer, at, 0, Math.min(digits.length, buffer.length - at));
    if (at >= buffer.length) break;
    const line = vocabulary[next() & 0xffff];
    at += line.copy(buffer, at, 0, Math.min(line.length, buffer.length - at));
  }
  return buffer;
}

/** Incompressible bytes: the AES-128-CTR keystream under a key derived from the seed (~GB/s). */
export function fillRandom(buffer: Buffer, seed: number | string): Buffer {
  const key = createHash('sha256').update(`ferry-bench/${seed}`).digest();
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32));
  const zeros = Buffer.alloc(Math.min(buffer.length, 4 * MiB));
  for (let at = 0; at < buffer.length; at += zeros.length) {
    const take = Math.min(zeros.length, buffer.length - at);
    cipher.update(zeros.subarray(0, take)).copy(buffer, at);
  }
  return buffer;
}

/**
 * Sizes of a backup tree: log-uniform between `min` and `max` (many small files, a few large ones,
 * as a home directory or a project tree has), then scaled so that they add up to about `total`
 * (never past `max`).
 */
export function treeSizes(count: number, total: number, min = 64 * KiB, max = 8 * MiB, seed = 4242): number[] {
  const next = prng(seed);
  const raw = Array.from({ length: count }, () => Math.log(min) + ((next() % 1_000_000) / 1_000_000) * (Math.log(max) - Math.log(min)));
  // shift in log space until the sum reaches the total: keeps the shape, stays within [min, max]
  let low = -3;
  let high = 3;
  const sizes = (shift: number) => raw.map((value) => Math.round(Math.min(max, Math.max(min, Math.exp(value + shift)))));
  for (let i = 0; i < 50; i++) {
    const middle = (low + high) / 2;
    if (sizes(middle).reduce((sum, size) => sum + size, 0) < total) low = middle;
    else high = middle;
  }
  return sizes(low);
}

/**
 * What changes between two full backups: a few KiB overwritten somewhere inside the file and, for
 * every other changed file, a few bytes inserted elsewhere (which shifts everything after them).
 */
export function changeFile(original: Buffer, seed: number, insert: boolean): Buffer {
  const next = prng(seed * 7919 + 1);
  const overwrite = Math.min(4 * KiB, original.length);
  const changed = Buffer.from(original);
  fillRandom(changed.subarray(next() % (original.length - overwrite + 1)).subarray(0, overwrite), `overwrite-${seed}`);
  if (!insert) return changed;
  const at = next() % (changed.length + 1);
  return Buffer.concat([changed.subarray(0, at), fillRandom(Buffer.alloc(16), `insert-${seed}`), changed.subarray(at)]);
}
