import { Worker } from 'node:worker_threads';

/** Digests a HashPool computes off the event loop: the ones that cost most per byte. */
export type PooledAlgorithm = 'MD5' | 'SHA1' | 'SHA256';

const NODE_NAMES: Record<PooledAlgorithm, string> = { MD5: 'md5', SHA1: 'sha1', SHA256: 'sha256' };

/** Bytes gathered before one message to the worker: fewer, larger messages cost less than many small ones. */
const BATCH_BYTES = 1024 * 1024;
/** Bytes a session may have in flight before update() makes its caller wait (backpressure). */
const MAX_IN_FLIGHT = 8 * 1024 * 1024;

// Plain CommonJS evaluated in the worker: only Node built-ins, so it runs the same from source and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const sessions = new Map();
parentPort.on('message', (message) => {
  if (message.op === 'open') {
    sessions.set(message.id, message.algorithms.map((name) => createHash(name)));
  } else if (message.op === 'update') {
    const data = new Uint8Array(message.data);
    for (const hash of sessions.get(message.id) ?? []) hash.update(data);
    parentPort.postMessage({ op: 'ack', id: message.id, bytes: data.byteLength });
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
}

/**
 * MD5 and SHA digests of request bodies computed on worker threads, so the event loop that moves
 * bytes from sockets to the spool is not the bottleneck of ingest (MD5 alone runs at ~0.7 GiB/s
 * per core). Each session stays on one worker, so its chunks are hashed in order.
 */
export class HashPool {
  private readonly lanes: Lane[] = [];
  private nextLane = 0;
  private nextId = 1;

  constructor(readonly size: number) {
    for (let index = 0; index < size; index++) this.lanes.push(this.startLane());
  }

  session(algorithms: PooledAlgorithm[]): HashSession {
    const lane = this.lanes[this.nextLane++ % this.lanes.length];
    return new HashSession(lane, this.nextId++, algorithms);
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.map((lane) => lane.worker.terminate()));
  }

  /** Nest calls this when the module that provides the pool shuts down. */
  onModuleDestroy(): Promise<void> {
    return this.close();
  }

  private startLane(): Lane {
    const lane: Lane = { worker: new Worker(WORKER_SOURCE, { eval: true }), waiters: new Map() };
    lane.worker.unref();
    lane.worker.on('message', (message: { op: string; id: number; bytes?: number; digests?: Uint8Array[] }) => {
      const waiter = lane.waiters.get(message.id);
      if (!waiter) return;
      if (message.op === 'ack') waiter.onAck(message.bytes ?? 0);
      else if (message.op === 'digest') waiter.onDigest(message.digests ?? []);
    });
    const fail = (error: Error) => {
      for (const waiter of lane.waiters.values()) waiter.onError(error);
      lane.waiters.clear();
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

/** One body's digests. update() resolves at once unless too much is in flight. */
export class HashSession {
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private inFlight = 0;
  private drained?: () => void;
  private result?: (digests: Uint8Array[]) => void;
  private failure?: Error;
  private failed?: (error: Error) => void;

  constructor(
    private readonly lane: Lane,
    private readonly id: number,
    private readonly algorithms: PooledAlgorithm[],
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

  update(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) throw this.failure;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= BATCH_BYTES) this.flush();
    if (this.inFlight <= MAX_IN_FLIGHT) return undefined;
    return new Promise<void>((resolve) => (this.drained = resolve));
  }

  /** The digests, in the order the algorithms were given. */
  async digest(): Promise<Buffer[]> {
    this.flush();
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

  private flush(): void {
    if (this.batchBytes === 0) return;
    // one copy into a fresh buffer, whose memory then moves to the worker without another
    const data = Buffer.allocUnsafeSlow(this.batchBytes);
    let offset = 0;
    for (const chunk of this.batch) offset += chunk.copy(data, offset);
    this.inFlight += this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.lane.worker.postMessage({ op: 'update', id: this.id, data: data.buffer }, [data.buffer]);
  }
}
