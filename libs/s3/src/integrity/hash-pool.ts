import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { BufferSlab } from './buffer-slab.js';

/** Digests a HashPool computes off the event loop: the ones that cost most per byte. */
export type PooledAlgorithm = 'MD5' | 'SHA1' | 'SHA256';

const NODE_NAMES: Record<PooledAlgorithm, string> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256' };

/** Size of the buffers bodies are gathered in: fewer, larger messages cost less than many small ones. */
export const HASH_BUFFER_BYTES = 1024 * 1024;
/**
 * Buffers ingest may hold at once (256 MiB): a body holds at most the one it fills plus
 * MAX_IN_FLIGHT waiting for its worker, so this only makes bodies wait beyond ~28 concurrent
 * large uploads, and it bounds the gateway's memory whatever the load.
 */
const SLAB_BUFFERS = 256;
/** Bytes a session may have in flight before update() makes its caller wait (backpressure). */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

/**
 * The multi-buffer MD5 addon (native/md5-mb), when it built at install: MD5 of many bodies at once,
 * one per SIMD lane, ~6× OpenSSL's speed with 16 bodies in flight. Without it, MD5 is OpenSSL's.
 */
function multiBufferMd5Module(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const path = require.resolve('ferry-md5-mb');
    require(path); // a module that resolves but will not load (wrong ABI) counts as absent
    return path;
  } catch {
    return undefined;
  }
}

// Plain CommonJS evaluated in the worker: only Node built-ins (and the addon, by absolute path), so
// it runs the same from source and from dist. MD5 goes to the batcher, which hashes the queued
// buffers of several bodies in one pass. A worker that keeps up would otherwise hash each buffer
// the moment it comes, one body at a time, so a pass waits until every body open on this worker
// has a buffer queued, or MD5_WAIT_MS, whichever comes first (a digest request runs it at once).
// A buffer is acked (and so reused) only after every digest has read it.
const MD5_WAIT_MS = 2;
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
let memory;
let slab;
let batcher;
let md5Open = 0;
const waiting = new Map(); // md5 stream -> buffers queued
let timer;
const ack = (id, bytes, index) => parentPort.postMessage({ op: 'ack', id, bytes, index });
const flush = () => {
  clearTimeout(timer);
  timer = undefined;
  batcher.flush();
};
// one view of the shared memory for every buffer, so the batcher sees them as one array
const view = (index, length) => {
  const start = index * memory.bufferBytes;
  if (!slab || slab.length < start + length) slab = new Uint8Array(memory.slab.buffer);
  return slab.subarray(start, start + length);
};
parentPort.on('message', (message) => {
  if (message.op === 'memory') {
    memory = message;
    if (message.md5Module) batcher = new (require(message.md5Module).Md5Batcher)();
  } else if (message.op === 'open') {
    const hashers = message.algorithms.map((name) => (name === 'md5' && batcher ? { md5: batcher.stream() } : { hash: createHash(name) }));
    const md5 = hashers.find((hasher) => hasher.md5)?.md5;
    if (md5) md5Open++;
    sessions.set(message.id, { hashers, md5 });
  } else if (message.op === 'update') {
    const data = view(message.index, message.length);
    const { hashers, md5 } = sessions.get(message.id) ?? { hashers: [] };
    for (const hasher of hashers) if (hasher.hash) hasher.hash.update(data);
    if (!md5) {
      ack(message.id, message.length, message.index);
      return;
    }
    waiting.set(md5, (waiting.get(md5) ?? 0) + 1);
    batcher.enqueue(md5, data, () => {
      const left = waiting.get(md5) - 1;
      if (left === 0) waiting.delete(md5);
      else waiting.set(md5, left);
      ack(message.id, message.length, message.index);
    });
    if (waiting.size >= Math.min(16, md5Open)) flush();
    else timer ??= setTimeout(flush, ${MD5_WAIT_MS});
  } else if (message.op === 'digest' || message.op === 'close') {
    const { hashers, md5 } = sessions.get(message.id) ?? { hashers: [] };
    sessions.delete(message.id);
    if (md5) md5Open--;
    if (message.op === 'close') return;
    if (batcher) flush();
    parentPort.postMessage({ op: 'digest', id: message.id, digests: hashers.map((hasher) => (hasher.hash ? hasher.hash.digest() : batcher.digest(hasher.md5))) });
  }
});
`;

interface Waiter {
  onAck(bytes: number): void;
  onDigest(digests: Uint8Array[]): void;
  onError(error: Error): void;
}

interface Lane {
  worker: Worker;
  waiters: Map<number, Waiter>;
  /** Slab buffers the worker holds; given back if it dies. */
  holding: Set<number>;
}

/**
 * MD5 and SHA digests of request bodies computed on worker threads, so the event loop that moves
 * bytes from sockets to the spool is not the bottleneck of ingest (MD5 alone runs at ~0.7 GiB/s
 * per core). Each session stays on one worker, so its chunks are hashed in order.
 */
export class HashPool {
  private readonly lanes: Lane[] = [];
  private readonly slab = new BufferSlab(HASH_BUFFER_BYTES, SLAB_BUFFERS);
  private nextLane = 0;
  private nextId = 1;
  private readonly md5Module: string | undefined;

  /** `multiBufferMd5: false` keeps MD5 on OpenSSL (one body at a time per worker). */
  constructor(
    readonly size: number,
    options: { multiBufferMd5?: boolean } = {},
  ) {
    this.md5Module = options.multiBufferMd5 === false ? undefined : multiBufferMd5Module();
    for (let index = 0; index < size; index++) this.lanes.push(this.startLane());
  }

  /** Which MD5 the workers run: the multi-buffer addon, or OpenSSL's when it is not installed. */
  get md5Engine(): 'multi-buffer' | 'openssl' {
    return this.md5Module ? 'multi-buffer' : 'openssl';
  }

  session(algorithms: PooledAlgorithm[]): HashSession {
    const lane = this.lanes[this.nextLane++ % this.lanes.length];
    return new HashSession(this, lane, this.nextId++, algorithms);
  }

  /**
   * A page-aligned buffer of HASH_BUFFER_BYTES that the workers can read without a copy; waits
   * while every buffer is in use.
   */
  async takeBuffer(): Promise<Buffer> {
    return this.slab.view(await this.slab.take());
  }

  releaseBuffer(buffer: Buffer): void {
    const index = this.slab.indexOf(buffer);
    if (index === undefined) throw new Error('not a buffer of this hash pool');
    this.slab.release(index);
  }

  /** Hands a filled buffer to a lane's worker; it comes back to the slab when the worker acks. */
  post(lane: Lane, id: number, buffer: Buffer, length: number): void {
    const index = this.slab.indexOf(buffer);
    if (index === undefined) throw new Error('not a buffer of this hash pool');
    lane.holding.add(index);
    lane.worker.postMessage({ op: 'update', id, index, length });
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.worker.terminate()));
  }

  /** Nest calls this when the module that provides the pool shuts down. */
  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private startLane(): Lane {
    const lane: Lane = { worker: new Worker(WORKER_SOURCE, { eval: true }), waiters: new Map(), holding: new Set() };
    lane.worker.unref();
    lane.worker.postMessage({ op: 'memory', slab: this.slab.memory, bufferBytes: HASH_BUFFER_BYTES, md5Module: this.md5Module });
    lane.worker.on('message', (message: { op: string; id: number; bytes?: number; index?: number; digests?: Uint8Array[] }) => {
      if (message.op === 'ack' && message.index !== undefined && lane.holding.delete(message.index)) this.slab.release(message.index);
      const waiter = lane.waiters.get(message.id);
      if (!waiter) return;
      if (message.op === 'ack') waiter.onAck(message.bytes ?? 0);
      else if (message.op === 'digest') waiter.onDigest(message.digests ?? []);
    });
    const fail = (error: Error) => {
      for (const waiter of lane.waiters.values()) waiter.onError(error);
      lane.waiters.clear();
      for (const index of lane.holding) this.slab.release(index);
      lane.holding.clear();
      // replace the lost worker for later sessions
      const index = this.lanes.indexOf(lane);
      if (index !== -1) this.lanes[index] = this.startLane();
    };
    lane.worker.on('error', fail);
    lane.worker.on('exit', (code) => {
      if (code !== 0 && code !== 1) fail(new Error(`hash worker exited with code ${code}`));
    });
    return lane;
  }
}

/**
 * One body's digests. The caller fills buffers from takeBuffer() and hands each over with
 * submit(); the worker reads the buffer where it is (no copy) and gives it back to the pool.
 */
export class HashSession {
  private inFlight = 0;
  private drained?: () => void;
  private result?: (digests: Uint8Array[]) => void;
  private failure?: Error;
  private failed?: (error: Error) => void;

  constructor(
    private readonly pool: HashPool,
    private readonly lane: Lane,
    private readonly id: number,
    algorithms: PooledAlgorithm[],
  ) {
    lane.waiters.set(id, {
      onAck: (bytes) => {
        this.inFlight -= bytes;
        if (this.inFlight <= MAX_IN_FLIGHT / 2 && this.drained) {
          const resume = this.drained;
          this.drained = undefined;
          resume();
        }
      },
      onDigest: (digests) => this.result?.(digests),
      onError: (error) => {
        this.failure = error;
        this.failed?.(error);
        this.drained?.();
      },
    });
    lane.worker.postMessage({ op: 'open', id, algorithms: algorithms.map((name) => NODE_NAMES[name]) });
  }

  /**
   * Hashes the first `length` bytes of a buffer from takeBuffer(); the buffer is the session's
   * from now on. Resolves at once unless too much is in flight (then when the worker catches up).
   */
  submit(buffer: Buffer, length: number): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    if (length === 0) {
      this.pool.releaseBuffer(buffer);
      return undefined;
    }
    this.inFlight += length;
    this.pool.post(this.lane, this.id, buffer, length);
    if (this.inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise<void>((resolve) => (this.drained = resolve));
  }

  /** The digests, in the order the algorithms were given. */
  async digest(): Promise<Buffer[]> {
    if (this.failure) throw this.failure;
    const digests = await new Promise<Uint8Array[]>((resolve, reject) => {
      this.result = resolve;
      this.failed = reject;
      this.lane.worker.postMessage({ op: 'digest', id: this.id });
    });
    this.lane.waiters.delete(this.id);
    return digests.map((digest) => Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength));
  }

  /** Abandons the session (the body failed); the worker forgets its state. */
  close(): void {
    if (!this.lane.waiters.delete(this.id)) return;
    this.lane.worker.postMessage({ op: 'close', id: this.id });
  }
}
