/** WebAssembly memory's page: what `aligned` slabs start on, and are a multiple of. */
const WASM_PAGE = 64 * 1024;

/** A slab handed out: its pool, the whole slab, bytes lent and not yet back, and whether its producer settled it. */
interface SlabState {
  pool: SlabPool;
  slab: Buffer;
  lent: number;
  settled: boolean;
}

/** Every slab handed out by any pool, by its memory; weak, so a slab never handed back is collected. */
const outstanding = new WeakMap<ArrayBufferLike, SlabState>();

/** Free slabs beyond `keep` that stay unused for `afterMs` are let go (SlabPool). */
export interface SlabDecay {
  keep: number;
  afterMs: number;
}

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
 *
 * How many free slabs a pool keeps decides whether reads that come in bursts reuse memory or take
 * new memory at each burst: a slab allocated afresh is new pages, which the kernel zeroes on first
 * touch, and new external memory, which V8 answers with full collections. A pool may therefore keep
 * many free slabs (`maxIdle`) and still give memory back when reads stop: with `decay`, the free
 * slabs beyond `decay.keep` that the pool did not need during a whole `decay.afterMs` are let go, a
 * few at a time as the reads slow down, all of them once they have stopped.
 */
export class SlabPool {
  /** Free slabs, the most recently freed last (taken first, as the likeliest still in a cache). */
  private readonly idle: Buffer[] = [];
  /** The fewest free slabs since the last decay tick: that many were not needed during it. */
  private lowIdle = 0;
  private decayTimer?: NodeJS.Timeout;
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
   * @param decay let go of free slabs beyond `keep` that have gone unused for `afterMs` (none: keep
   *   up to `maxIdle` for good)
   */
  constructor(
    readonly slabBytes: number,
    private readonly maxIdle: number,
    private readonly maxTaken = Infinity,
    readonly aligned = false,
    private readonly decay?: SlabDecay,
  ) {
    if (aligned && slabBytes % WASM_PAGE !== 0) throw new RangeError(`aligned slabs are whole multiples of ${WASM_PAGE} bytes, not ${slabBytes}`);
    if (decay && !(decay.keep >= 0 && decay.keep <= maxIdle && decay.afterMs > 0)) {
      throw new RangeError(`decay must keep 0 to maxIdle (${maxIdle}) slabs after a positive time, not ${decay.keep} after ${decay.afterMs} ms`);
    }
  }

  /** A whole slab (`slabBytes`) to fill; its old contents are whatever was last written. */
  take(): Buffer {
    if (this.taken >= this.maxTaken) throw new Error(`all ${this.maxTaken} slabs are taken`);
    this.taken++;
    const slab = this.idle.pop() ?? this.allocate();
    this.lowIdle = Math.min(this.lowIdle, this.idle.length);
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
    if (this.decay && this.idle.length > this.decay.keep) this.startDecay(this.decay);
  }

  private startDecay(decay: SlabDecay): void {
    if (this.decayTimer) return;
    this.lowIdle = this.idle.length;
    this.decayTimer = setInterval(() => {
      // the least recently freed go; the collector frees their memory with their last reference
      const spare = Math.min(this.lowIdle, this.idle.length - decay.keep);
      if (spare > 0) this.idle.splice(0, spare);
      this.lowIdle = this.idle.length;
      if (this.idle.length <= decay.keep) {
        clearInterval(this.decayTimer);
        this.decayTimer = undefined;
      }
    }, decay.afterMs);
    // memory kept a little longer is no reason to keep the process alive
    this.decayTimer.unref();
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
