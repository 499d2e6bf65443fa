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

// Plain CommonJS evaluated in the worker: only Node built-ins, so it runs the same from source and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
let memory;
parentPort.on('message', (message) => {
  if (message.op === 'memory') {
    memory = message;
  } else if (message.op === 'open') {
    sessions.set(message.id, message.algorithms.map((name) => createHash(name)));
  } else if (message.op === 'update') {
    const data = new Uint8Array(memory.slab.buffer, message.index * memory.bufferBytes, message.length);
    for (const hash of sessions.get(message.id) ?? []) hash.update(data);
    // the buffer goes back to the event loop for reuse
    parentPort.postMessage({ op: 'ack', id: message.id, bytes: message.length, index: message.index });
  } else if (message.op === 'digest') {
    const hashes = sessions.get(message.id) ?? [];
    sessions.delete(message.id);
    parentPort.postMessage({ op: 'digest', id: message.id, digests: hashes.map((hash) => hash.digest()) });
  } else if (message.op === 'close') {
    sessions.delete(message.id);
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

  constructor(readonly size: number) {
    for (let index = 0; index < size; index++) this.lanes.push(this.startLane());
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
    lane.worker.postMessage({ op: 'memory', slab: this.slab.memory, bufferBytes: HASH_BUFFER_BYTES });
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
