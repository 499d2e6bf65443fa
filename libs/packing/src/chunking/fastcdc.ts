import { GEAR } from './gear.js';

// FastCDC exactly as the `fastcdc` crate 1.0.6 cuts (its `FastCDC` iterator, a port of ronomon/deduplication):
// boundaries decide which chunks dedup against each other, so they are part of the storage format.

export interface ChunkingParams {
  minSize: number;
  avgSize: number;
  maxSize: number;
}

export interface Chunk {
  /** Position of the chunk's first byte in the whole input. */
  offset: number;
  length: number;
  data: Buffer;
}

export const DEFAULT_CHUNKING: Readonly<ChunkingParams> = Object.freeze({
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
});

// The crate's own asserts (it panics outside them), so every accepted setting has a reference to test against.
const BOUNDS = {
  minSize: [64, 67_108_864],
  avgSize: [256, 268_435_456],
  maxSize: [1024, 1_073_741_824],
} as const;

/** What the scan needs, worked out once per chunker rather than once per chunk. `center` is the
 * chunk-relative position where the strict mask hands over to the loose one. */
interface Cutter { min: number; max: number; center: number; maskS: number; maskL: number }

export function validateChunkingParams(params: ChunkingParams): void {
  for (const key of ['minSize', 'avgSize', 'maxSize'] as const) {
    const value = params[key];
    const [low, high] = BOUNDS[key];
    if (!Number.isSafeInteger(value) || value < low || value > high) {
      throw new RangeError(`${key} must be an integer in [${low}, ${high}], got ${value}`);
    }
  }
  // The crate accepts any order, but out of order the names lie (with min > max, say, every chunk is max).
  const { minSize, avgSize, maxSize } = params;
  if (minSize > avgSize || avgSize > maxSize) {
    throw new RangeError(`need minSize <= avgSize <= maxSize, got ${minSize} / ${avgSize} / ${maxSize}`);
  }
}

function cutterOf(params: ChunkingParams): Cutter {
  validateChunkingParams(params);
  const { minSize: min, avgSize: avg, maxSize: max } = params;
  // The crate rounds log2 of a non-power-of-two average to the nearest bit count, and its masks are
  // plain low-bit masks (not the spread-out masks of the FastCDC paper).
  const bits = Math.round(Math.log2(avg));
  // ronomon's "center size": the normal-size point sits at avg minus 1.5 × min (at least 0) past the
  // chunk start — not at avg — and this offset is measured from the chunk start, not from min.
  const center = avg - Math.min(min + Math.ceil(min / 2), avg);
  return { min, max, center, maskS: 2 ** (bits + 1) - 1, maskL: 2 ** (bits - 1) - 1 };
}

// The word loop below reads bytes in memory order out of 32-bit loads, which only little-endian hosts give.
const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;
// The same table viewed as int32 (every entry is < 2^31, so the values are equal): V8 then keeps the whole
// hash computation in int32 registers instead of widening uint32 loads.
const GEAR32 = new Int32Array(GEAR.buffer, GEAR.byteOffset, GEAR.length);

/**
 * Gear-hashes `src[from..to)` and returns the index just past the first byte whose hash has none of
 * `mask`'s bits set, or -1 if none does. The hash carries over in `state`, so a scan can resume in the
 * next piece of a stream.
 */
function scan(src: Uint8Array, from: number, to: number, mask: number, state: { hash: number }): number {
  // One bounds-checked load per four bytes is about 1.5x faster than per byte; an Int32Array view must
  // be aligned, so the bytes before the first aligned word and after the last go one at a time.
  const head = Math.min(to, from + (-(src.byteOffset + from) & 3));
  let at = scanBytes(src, from, head, mask, state);
  if (at >= 0) return at;
  const words = LITTLE_ENDIAN ? (to - head) >>> 2 : 0;
  if (words > 0) {
    at = scanWords(new Int32Array(src.buffer, src.byteOffset + head, words), mask, state);
    if (at >= 0) return head + at;
  }
  return scanBytes(src, head + 4 * words, to, mask, state);
}

function scanBytes(src: Uint8Array, from: number, to: number, mask: number, state: { hash: number }): number {
  const gear = GEAR32;
  let hash = state.hash;
  // `| 0` keeps the hash an int32 for the JIT; its bits are the crate's u32, which `>>> 1` reads back as
  // unsigned. The sum cannot carry past 32 bits, as both terms are below 2^31.
  for (let i = from; i < to; i++) {
    hash = ((hash >>> 1) + gear[src[i]]) | 0;
    if ((hash & mask) === 0) {
      state.hash = hash;
      return i + 1;
    }
  }
  state.hash = hash;
  return -1;
}

/** `scanBytes` over the bytes of `words`, returning a byte index relative to the first word. */
function scanWords(words: Int32Array, mask: number, state: { hash: number }): number {
  const gear = GEAR32;
  let hash = state.hash;
  for (let w = 0, n = words.length; w < n; w++) {
    const x = words[w];
    hash = ((hash >>> 1) + gear[x & 255]) | 0;
    if ((hash & mask) === 0) return found(state, hash, 4 * w + 1);
    hash = ((hash >>> 1) + gear[(x >>> 8) & 255]) | 0;
    if ((hash & mask) === 0) return found(state, hash, 4 * w + 2);
    hash = ((hash >>> 1) + gear[(x >>> 16) & 255]) | 0;
    if ((hash & mask) === 0) return found(state, hash, 4 * w + 3);
    hash = ((hash >>> 1) + gear[x >>> 24]) | 0;
    if ((hash & mask) === 0) return found(state, hash, 4 * w + 4);
  }
  state.hash = hash;
  return -1;
}

function found(state: { hash: number }, hash: number, at: number): number {
  state.hash = hash;
  return at;
}

/**
 * Length of the chunk that starts at `start`, treating `end` as the end of the input (so the result
 * can be the whole `end - start` when no boundary is found). Any `end - start >= maxSize` gives the
 * same answer as the full input would.
 */
export function cutPoint(buffer: Uint8Array, start: number, end: number, params: ChunkingParams): number {
  return cutWith(buffer, start, end, cutterOf(params));
}

function cutWith(buffer: Uint8Array, start: number, end: number, c: Cutter): number {
  const size = end - start;
  if (size <= c.min) return size;
  const limit = start + Math.min(size, c.max);
  const state = { hash: 0 };
  let from = start + c.min;
  const normal = Math.min(start + c.center, limit);
  if (from < normal) {
    const at = scan(buffer, from, normal, c.maskS, state);
    if (at >= 0) return at - start;
    from = normal;
  }
  const at = scan(buffer, from, limit, c.maskL, state);
  return (at >= 0 ? at : limit) - start;
}

/** Cuts a whole in-memory input; every chunk's `data` is a view of `input`. */
export function chunkBuffer(input: Buffer, params: ChunkingParams = DEFAULT_CHUNKING): Chunk[] {
  const c = cutterOf(params);
  const chunks: Chunk[] = [];
  for (let offset = 0; offset < input.length; ) {
    const length = cutWith(input, offset, input.length, c);
    chunks.push({ offset, length, data: input.subarray(offset, offset + length) });
    offset += length;
  }
  return chunks;
}

/**
 * Streaming FastCDC: feed the input in pieces of any size and get the same chunks as `chunkBuffer`
 * over the concatenation. Each byte is hashed once, as it arrives (no rescans while waiting for
 * `maxSize` bytes).
 *
 * Two ways to feed it; one chunker takes one of them from start to finish:
 * - `push` hands out chunks with their bytes. A chunk lying inside one pushed piece is a view of that
 *   piece (no copy), so the caller must not reuse a pushed buffer; a chunk spanning pieces is
 *   concatenated once, when cut. Held back between calls: at most `maxSize - 1` bytes of the
 *   unfinished chunk, as views that keep their pieces alive (so about maxSize + one piece with the
 *   usual 1–4 MiB reads).
 * - `ends` only says where chunks end and keeps nothing of the piece, so the caller can read every
 *   piece into the same buffer and hash each chunk as its bytes go by (packing.thread's `cut`).
 */
export class FastCdcChunker {
  private readonly c: Cutter;
  /** Bytes of the unfinished chunk from earlier pieces (views, not copies; `push` only). */
  private parts: Buffer[] = [];
  /** How many bytes of the unfinished chunk came in earlier pieces. */
  private held = 0;
  private readonly state = { hash: 0 };
  /** Offset of the unfinished chunk in the whole input. */
  private offset = 0;

  constructor(params: ChunkingParams = DEFAULT_CHUNKING) {
    this.c = cutterOf(params);
  }

  push(data: Buffer): Chunk[] {
    const out: Chunk[] = [];
    let begin = 0;
    for (const end of this.ends(data)) {
      out.push(this.emit(data, begin, end));
      begin = end;
    }
    if (begin < data.length) this.parts.push(begin === 0 ? data : data.subarray(begin));
    return out;
  }

  /**
   * Where the chunks that end inside `data` end (indices into `data`, ascending, past each chunk's
   * last byte). The first starts after the bytes held from earlier pieces; what follows the last is
   * held for the next call. `data` is not kept.
   */
  ends(data: Uint8Array): number[] {
    const { min, max, center, maskS, maskL } = this.c;
    const out: number[] = [];
    const n = data.length;
    let begin = 0; // where the unfinished chunk's bytes start within `data`
    let pos = 0; // next byte of `data` to hash
    for (;;) {
      // data[i] sits at chunk-relative position i + base
      const base = this.held - begin;
      // bytes before `min` are never hashed: the crate starts each chunk's hash at min_size
      if (pos + base < min) pos = Math.min(n, min - base);
      let at = -1;
      if (pos + base < center) {
        const stop = Math.min(n, center - base);
        at = scan(data, pos, stop, maskS, this.state);
        if (at < 0) pos = stop;
      }
      if (at < 0) {
        const stop = Math.min(n, max - base);
        if (pos < stop) {
          at = scan(data, pos, stop, maskL, this.state);
          if (at < 0) pos = stop;
        }
        if (at < 0 && pos + base === max) at = pos;
      }
      if (at < 0) break;
      out.push(at);
      this.held = 0;
      this.state.hash = 0;
      begin = pos = at;
    }
    this.held += n - begin;
    return out;
  }

  /** Emits what is left as the last chunk (the only one that may be below `minSize`) and resets the chunker. */
  finish(): Chunk[] {
    const out = this.held === 0 ? [] : [this.emit(Buffer.alloc(0), 0, 0)];
    this.reset();
    return out;
  }

  /**
   * The length of the last chunk, what is still held (0: there is none), for `ends`; resets the
   * chunker. The only chunk that may be below `minSize`.
   */
  finishEnds(): number {
    const last = this.held;
    this.reset();
    return last;
  }

  private reset(): void {
    this.parts = [];
    this.held = 0;
    this.state.hash = 0;
    this.offset = 0;
  }

  /** The unfinished chunk ends at `data[end]` (`ends` has already started the next one): hand it out. */
  private emit(data: Buffer, begin: number, end: number): Chunk {
    const earlier = this.parts.reduce((sum, part) => sum + part.length, 0);
    const length = earlier + end - begin;
    let bytes: Buffer;
    if (earlier === 0) bytes = data.subarray(begin, end);
    else if (end === begin && this.parts.length === 1) bytes = this.parts[0];
    else {
      if (end > begin) this.parts.push(data.subarray(begin, end));
      bytes = Buffer.concat(this.parts, length);
    }
    const chunk: Chunk = { offset: this.offset, length, data: bytes };
    this.offset += length;
    this.parts = [];
    return chunk;
  }
}

/** `FastCdcChunker` over an async source, e.g. the read streams of an object's spool files in order. */
export async function* chunkStream(
  source: AsyncIterable<Buffer>,
  params: ChunkingParams = DEFAULT_CHUNKING,
): AsyncGenerator<Chunk> {
  const chunker = new FastCdcChunker(params);
  for await (const piece of source) yield* chunker.push(piece);
  yield* chunker.finish();
}
