/** WebAssembly memory grows in pages of 64 KiB. */
const WASM_PAGE = 64 * 1024;

/**
 * Fixed-size buffers carved out of one shared WebAssembly memory. Two properties the ingest path
 * needs and ordinary Buffers cannot promise:
 * - page alignment (the memory starts on a page and every buffer is a multiple of 64 KiB), so the
 *   spool can write them with O_DIRECT and skip the kernel's copy into the page cache;
 * - sharing with worker threads without a copy or a transfer: a worker is handed the memory once
 *   and then only an index.
 * The memory grows a buffer at a time up to `capacity` and never shrinks (shared memory cannot),
 * so `capacity` bounds what ingest holds at once; past it, take() waits for a release.
 */
export class BufferSlab {
  readonly memory: WebAssembly.Memory;
  private readonly views: Buffer[] = [];
  private readonly free: number[] = [];
  private readonly waiting: ((index: number) => void)[] = [];

  constructor(
    readonly bufferBytes: number,
    readonly capacity: number,
  ) {
    if (bufferBytes % WASM_PAGE !== 0) throw new Error(`slab buffers must be a multiple of ${WASM_PAGE} bytes`);
    this.memory = new WebAssembly.Memory({ initial: 0, maximum: (bufferBytes / WASM_PAGE) * capacity, shared: true });
  }

  /** Buffers handed out so far (the memory's size in buffers). */
  get allocated(): number {
    return this.views.length;
  }

  /** A free buffer's index; waits when all `capacity` buffers are in use. */
  async take(): Promise<number> {
    const index = this.free.pop() ?? this.grow();
    if (index !== undefined) return index;
    return new Promise<number>((resolve) => this.waiting.push(resolve));
  }

  view(index: number): Buffer {
    return this.views[index];
  }

  /** The index of a view this slab handed out, or undefined for any other buffer. */
  indexOf(buffer: Buffer): number | undefined {
    const index = buffer.byteOffset / this.bufferBytes;
    return this.views[index] === buffer ? index : undefined;
  }

  release(index: number): void {
    const next = this.waiting.shift();
    if (next) next(index);
    else this.free.push(index);
  }

  private grow(): number | undefined {
    if (this.views.length >= this.capacity) return undefined;
    const index = this.views.length;
    this.memory.grow(this.bufferBytes / WASM_PAGE);
    // views made before a grow stay valid: shared memory never moves
    this.views.push(Buffer.from(this.memory.buffer, index * this.bufferBytes, this.bufferBytes));
    return index;
  }
}
