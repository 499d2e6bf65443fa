/** WebAssembly memory's page: what `aligned` slabs start on, and are a multiple of. */
const WASM_PAGE = 64 * 1024;

/**
 * Reusable buffers for the read path.
 *
 * A restore moves every byte through a large buffer of its own: plaintext decoded from packs, frames
 * fetched from Blob, spool file reads. Allocated afresh, each one counts as V8 external memory, and
 * V8 answers every ~64 MiB of new external memory with a full mark-compact of the heap. Profiles of
 * the gateway serving reads from packs showed a third of its CPU in that collector. A slab is
 * allocated once (as a SharedArrayBuffer, so a packing thread can write into it without a transfer)
 * and filled again and again.
 *
 * The life of a slab: a producer `take`s it, fills it, `lend`s views of it to a consumer and
 * `settle`s it when it will lend no more. A consumer that knows when it is done with bytes (the GET
 * writer, once the socket has taken them) hands them back with `SlabPool.written`. The slab is free
 * again once its producer settled and every byte it lent came back. A consumer that never hands
 * bytes back is safe: the slab is then simply never reused and the collector takes it with the
 * last view. So bytes are never overwritten while anyone may still read them, as long as no one
 * hands back bytes it did not finish with.
 */
interface SlabState {
  pool: SlabPool;
  slab: Buffer;
  lent: number;
  settled: boolean;
}

/** Every slab handed out by any pool, by its memory; weak, so a slab never handed back is collected. */
const outstanding = new WeakMap<ArrayBufferLike, SlabState>();

export class SlabPool {
  private readonly idle: Buffer[] = [];
  /** Slabs taken and not yet free again. */
  private taken = 0;
  /** Callers of `acquire` waiting for a slab to come back, first come first served. */
  private readonly waiting: ((slab: Buffer) => void)[] = [];
  /** Slabs allocated since start, for tests and metrics. */
  allocated = 0;

  /**
   * @param slabBytes the size of every slab
   * @param maxIdle how many free slabs are kept; one handed back beyond that is left to the collector
   * @param maxTaken how many slabs may be out at once (`acquire` waits beyond that): bounds the
   *   pool's memory, for producers that always settle what they take and lend nothing for good
   * @param aligned slabs start on a 64 KiB boundary, as reads with O_DIRECT need (a multiple of the block size)
   */
  constructor(
    readonly slabBytes: number,
    private readonly maxIdle: number,
    private readonly maxTaken = Infinity,
    readonly aligned = false,
  ) {
    if (aligned && slabBytes % WASM_PAGE !== 0) throw new RangeError(`aligned slabs are whole multiples of ${WASM_PAGE} bytes, not ${slabBytes}`);
  }

  /** A whole slab (`slabBytes`) to fill; its old contents are whatever was last written. */
  take(): Buffer {
    if (this.taken >= this.maxTaken) throw new Error(`all ${this.maxTaken} slabs are taken`);
    this.taken++;
    const slab = this.idle.pop() ?? this.allocate();
    outstanding.set(slab.buffer, { pool: this, slab, lent: 0, settled: false });
    return slab;
  }

  /** A slab as `take` gives it, once fewer than `maxTaken` are out. */
  acquire(): Promise<Buffer> {
    if (this.taken < this.maxTaken) return Promise.resolve(this.take());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** `view`, bytes of a taken slab, goes to a consumer (which may hand it back with `written`). */
  lend<T extends Uint8Array>(view: T): T {
    const state = outstanding.get(view.buffer);
    if (!state || state.pool !== this || state.settled) throw new Error('lending bytes of a slab this pool has not handed out');
    state.lent += view.byteLength;
    return view;
  }

  /** The producer lends no more of `slab`; it is free once every byte lent comes back. */
  settle(slab: Uint8Array): void {
    const state = outstanding.get(slab.buffer);
    if (!state || state.pool !== this || state.settled) throw new Error('settling a slab this pool has not handed out');
    state.settled = true;
    this.freeIfDone(state);
  }

  /** Free slabs kept now, for tests and metrics. */
  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * A consumer is done with `bytes` (lent from some pool's slab; anything else is ignored): they may
   * be overwritten as soon as this returns.
   */
  static written(bytes: Uint8Array): void {
    const state = outstanding.get(bytes.buffer);
    if (!state) return;
    state.lent -= bytes.byteLength;
    if (state.lent < 0) throw new Error('more bytes of a slab handed back than were lent');
    state.pool.freeIfDone(state);
  }

  private freeIfDone(state: SlabState): void {
    if (!state.settled || state.lent > 0) return;
    outstanding.delete(state.slab.buffer);
    this.taken--;
    if (this.idle.length < this.maxIdle) this.idle.push(state.slab);
    this.waiting.shift()?.(this.take());
  }

  private allocate(): Buffer {
    this.allocated++;
    if (!this.aligned) return Buffer.from(new SharedArrayBuffer(this.slabBytes));
    // shared WebAssembly memory is a SharedArrayBuffer that starts on a page; each reserves address
    // space (not memory) for its guard region, of which a process has room for thousands
    const pages = this.slabBytes / WASM_PAGE;
    return Buffer.from(new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true }).buffer);
  }
}
