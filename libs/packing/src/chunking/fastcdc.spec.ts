import { createHash } from 'node:crypto';
import { compute_chunks } from '@dstanesc/wasm-chunking-fastcdc-node';
import { describe, expect, it } from 'vitest';
import {
  chunkBuffer,
  chunkStream,
  cutPoint,
  DEFAULT_CHUNKING,
  FastCdcChunker,
  validateChunkingParams,
  type Chunk,
  type ChunkingParams,
} from './fastcdc.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** mulberry32: deterministic, so a failure reproduces; Math.random would not. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** `n` pseudo-random bytes, starting `seed % 4` bytes into their ArrayBuffer so unaligned starts get exercised. */
function randomBytes(n: number, seed: number, bitsPerByte = 8): Buffer {
  const next = prng(seed);
  const skew = seed % 4;
  const out = Buffer.alloc(n + skew).subarray(skew);
  const keep = (1 << bitsPerByte) - 1;
  for (let i = 0; i < n; i += 4) {
    let r = next();
    for (let k = i; k < i + 4 && k < n; k++, r >>>= 8) out[k] = r & keep;
  }
  return out;
}

/** The crate's chunk ends, from the wasm build of fastcdc 1.0.6. It returns [0, end1, end2, …]; [0] for no input. */
function referenceEnds(input: Uint8Array, p: ChunkingParams): number[] {
  const offsets = Array.from(compute_chunks(input, p.minSize, p.avgSize, p.maxSize));
  expect(offsets[0]).toBe(0);
  return offsets.slice(1);
}

function cutPointEnds(input: Uint8Array, p: ChunkingParams): number[] {
  const ends: number[] = [];
  for (let offset = 0; offset < input.length; ) ends.push((offset += cutPoint(input, offset, input.length, p)));
  return ends;
}

/** Pushes `input` in pieces whose sizes `size()` picks; each piece is a fresh copy, as a file read would be. */
function streamed(input: Buffer, p: ChunkingParams, size: () => number): Chunk[] {
  const chunker = new FastCdcChunker(p);
  const chunks: Chunk[] = [];
  for (let at = 0; at < input.length; ) {
    const piece = Buffer.from(input.subarray(at, at + size()));
    at += piece.length;
    chunks.push(...chunker.push(piece));
  }
  return chunks.concat(chunker.finish());
}

function expectSameChunks(actual: Chunk[], input: Buffer, p: ChunkingParams): void {
  expect(actual.map((c) => c.offset + c.length)).toEqual(cutPointEnds(input, p));
  let offset = 0;
  for (const chunk of actual) {
    expect(chunk.offset).toBe(offset);
    expect(chunk.data.length).toBe(chunk.length);
    offset += chunk.length;
  }
  expect(Buffer.concat(actual.map((c) => c.data)).equals(input)).toBe(true);
}

const sha = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

const SMALL: ChunkingParams = { minSize: 8 * KiB, avgSize: 16 * KiB, maxSize: 64 * KiB };
const CRATE_MINIMUMS: ChunkingParams = { minSize: 64, avgSize: 256, maxSize: 1024 };
const PARAMS: [string, ChunkingParams][] = [
  ['the Ferry defaults', DEFAULT_CHUNKING],
  ['8/16/64 KiB', SMALL],
  ['16/32/64 KiB', { minSize: 16 * KiB, avgSize: 32 * KiB, maxSize: 64 * KiB }],
  ['the crate minimums', CRATE_MINIMUMS],
  // log2(3000) rounds up to 12, log2(300) down to 8; min = avg = max leaves nothing to hash
  ['1000/3000/9000', { minSize: 1000, avgSize: 3000, maxSize: 9000 }],
  ['64/300/1024', { minSize: 64, avgSize: 300, maxSize: 1024 }],
  ['4/4/4 KiB', { minSize: 4 * KiB, avgSize: 4 * KiB, maxSize: 4 * KiB }],
];

describe('FastCDC against the fastcdc 1.0.6 reference (wasm)', () => {
  for (const [name, p] of PARAMS) {
    it(`cuts where the crate does, with ${name}`, () => {
      const { minSize: min, maxSize: max } = p;
      const sizes = [0, 1, min - 1, min, min + 1, max - 1, max, max + 1, 3 * max, 3 * max + 5, 4 * MiB + 3];
      if (p === DEFAULT_CHUNKING || p === SMALL) sizes.push(40 * MiB);
      for (const [i, size] of sizes.entries()) {
        for (const input of [randomBytes(size, 1000 + i), randomBytes(size, 2000 + i, 2), Buffer.alloc(size)]) {
          const ends = cutPointEnds(input, p);
          expect(ends, `${size} bytes`).toEqual(referenceEnds(input, p));
          expect(chunkBuffer(input, p).map((c) => c.offset + c.length)).toEqual(ends);
          // only the last chunk may be short (but never empty), none may be long
          const lengths = ends.map((end, k) => end - (k === 0 ? 0 : ends[k - 1]));
          expect(lengths.filter((n, k) => n > max || n < (k === lengths.length - 1 ? 1 : min))).toEqual([]);
        }
      }
    });
  }

  it('matches on a sample the crate authors pinned: all zeroes cut at max', () => {
    expect(cutPointEnds(Buffer.alloc(10 * KiB), CRATE_MINIMUMS)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) * KiB));
  });

  it('gives a window of maxSize bytes the same cut as the whole input', () => {
    const input = randomBytes(12 * MiB, 7);
    for (const start of [0, 1, 333_333, 5 * MiB + 17]) {
      expect(cutPoint(input, start, start + DEFAULT_CHUNKING.maxSize, DEFAULT_CHUNKING)).toBe(
        cutPoint(input, start, input.length, DEFAULT_CHUNKING),
      );
    }
  });
});

describe('FastCdcChunker (streaming)', () => {
  it('gives the one-shot chunks when fed one byte at a time', () => {
    const input = randomBytes(24 * KiB, 11);
    expectSameChunks(streamed(input, CRATE_MINIMUMS, () => 1), input, CRATE_MINIMUMS);
    const larger = randomBytes(300 * KiB, 12);
    expectSameChunks(streamed(larger, SMALL, () => 1), larger, SMALL);
  });

  it('gives the one-shot chunks when fed random 1..3 MiB pieces', () => {
    const input = randomBytes(40 * MiB + 123, 13);
    const next = prng(14);
    const chunks = streamed(input, DEFAULT_CHUNKING, () => 1 + (next() % (3 * MiB)));
    expectSameChunks(chunks, input, DEFAULT_CHUNKING);
    expect(chunks.at(-1)!.offset + chunks.at(-1)!.length).toBe(input.length);
  });

  it('gives the one-shot chunks for pieces around the sizes that matter, empty ones included', () => {
    const input = randomBytes(2 * MiB + 1, 15);
    const next = prng(16);
    const sizes = [0, 1, 63, 64, 255, 1023, 1024, 1025, 4093, 8 * KiB, 64 * KiB];
    for (const p of [SMALL, CRATE_MINIMUMS]) {
      expectSameChunks(streamed(input, p, () => sizes[next() % sizes.length]), input, p);
    }
  });

  it('hands out a chunk lying inside one piece as a view of it, and concatenates the others', () => {
    const input = randomBytes(16 * MiB, 17);
    const chunker = new FastCdcChunker();
    const piece = Buffer.from(input);
    const chunks = [...chunker.push(piece), ...chunker.finish()];
    expect(chunks.slice(0, -1).every((c) => c.data.buffer === piece.buffer)).toBe(true);
    const halves = streamed(input, DEFAULT_CHUNKING, () => 8 * MiB + 1);
    const spanning = halves.find((c) => c.offset < 8 * MiB + 1 && c.offset + c.length > 8 * MiB + 1)!;
    expect(spanning.data.equals(input.subarray(spanning.offset, spanning.offset + spanning.length))).toBe(true);
  });

  it('says where chunks end without keeping the pieces, which can all be read into one buffer', () => {
    const next = prng(22);
    for (const [p, size, input] of [
      [DEFAULT_CHUNKING, () => 1 + (next() % (5 * MiB)), randomBytes(40 * MiB + 321, 21)],
      [SMALL, () => [0, 1, 1023, 4093, 64 * KiB][next() % 5], randomBytes(3 * MiB + 5, 23)],
    ] as const) {
      const chunker = new FastCdcChunker(p);
      // one buffer for every piece, overwritten each time: a chunker that kept a view of it would cut
      // (and the hashes below would cover) bytes that are no longer there
      const scratch = Buffer.alloc(5 * MiB);
      const ends: number[] = [];
      const hashes: string[] = [];
      let hash = createHash('sha256');
      for (let at = 0; at < input.length; ) {
        const piece = scratch.subarray(0, Math.min(size(), input.length - at));
        input.copy(piece, 0, at);
        let from = 0;
        for (const end of chunker.ends(piece)) {
          expect(end).toBeGreaterThan(from);
          hashes.push(hash.update(piece.subarray(from, end)).digest('hex'));
          hash = createHash('sha256');
          ends.push(at + end);
          from = end;
        }
        hash.update(piece.subarray(from));
        at += piece.length;
        piece.fill(0xa5);
      }
      const last = chunker.finishEnds();
      if (last > 0) {
        hashes.push(hash.digest('hex'));
        ends.push(input.length);
        // what was held is the last chunk, whatever its size
        expect(ends.at(-1)! - (ends.at(-2) ?? 0)).toBe(last);
      }
      expect(ends).toEqual(cutPointEnds(input, p));
      const whole = chunkBuffer(input, p);
      expect(hashes).toEqual(whole.map((chunk) => createHash('sha256').update(chunk.data).digest('hex')));
      expect(chunker.finishEnds()).toBe(0);
    }
  });

  it('starts over after finish, and an empty input has no chunks', () => {
    const chunker = new FastCdcChunker(SMALL);
    expect(chunker.finish()).toEqual([]);
    const input = randomBytes(200 * KiB, 18);
    const first = [...chunker.push(input), ...chunker.finish()];
    const second = [...chunker.push(input), ...chunker.finish()];
    expect(second.map((c) => [c.offset, c.length])).toEqual(first.map((c) => [c.offset, c.length]));
  });

  it('works as an async generator over an object spread over several files', async () => {
    const input = randomBytes(9 * MiB + 7, 19);
    async function* files() {
      for (const [from, to] of [[0, 3 * MiB + 1], [3 * MiB + 1, 3 * MiB + 1], [3 * MiB + 1, 5 * MiB], [5 * MiB, input.length]]) {
        for (let at = from; at < to; at += MiB) yield Buffer.from(input.subarray(at, Math.min(to, at + MiB)));
      }
    }
    const chunks: Chunk[] = [];
    for await (const chunk of chunkStream(files())) chunks.push(chunk);
    expectSameChunks(chunks, input, DEFAULT_CHUNKING);
  });
});

describe('boundary stability', () => {
  it('moves only the chunks next to an insertion', () => {
    const input = randomBytes(64 * MiB, 21);
    const at = 32 * MiB + 12_345;
    const edited = Buffer.concat([input.subarray(0, at), Buffer.from('ferry!!'), input.subarray(at)]);
    const before = chunkBuffer(input);
    const after = chunkBuffer(edited);
    const untouched = before.filter((c) => c.offset + c.length <= at);
    expect(after.slice(0, untouched.length).map((c) => sha(c.data))).toEqual(untouched.map((c) => sha(c.data)));
    const known = new Set(before.map((c) => sha(c.data)));
    const fresh = after.filter((c) => !known.has(sha(c.data)));
    expect(after.length).toBeGreaterThan(40);
    expect(fresh.length).toBeGreaterThan(0);
    expect(fresh.length).toBeLessThanOrEqual(3);
  });
});

describe('chunking parameters', () => {
  it('accepts the defaults and the crate minimums', () => {
    expect(DEFAULT_CHUNKING).toEqual({ minSize: 256 * KiB, avgSize: MiB, maxSize: 4 * MiB });
    expect(() => validateChunkingParams(DEFAULT_CHUNKING)).not.toThrow();
    expect(() => validateChunkingParams(CRATE_MINIMUMS)).not.toThrow();
  });

  it('rejects what the crate rejects, and sizes out of order', () => {
    const bad: ChunkingParams[] = [
      { minSize: 63, avgSize: 256, maxSize: 1024 },
      { minSize: 64, avgSize: 255, maxSize: 1024 },
      { minSize: 64, avgSize: 256, maxSize: 1023 },
      { minSize: 64 * MiB + 1, avgSize: 128 * MiB, maxSize: 512 * MiB },
      { minSize: 64, avgSize: 256 * MiB + 1, maxSize: 512 * MiB },
      { minSize: 64, avgSize: 256, maxSize: 1024 * MiB + 1 },
      { minSize: 2048, avgSize: 1024, maxSize: 4096 },
      { minSize: 64, avgSize: 8192, maxSize: 4096 },
      { minSize: 64.5, avgSize: 256, maxSize: 1024 },
      { minSize: Number.NaN, avgSize: 256, maxSize: 1024 },
    ];
    for (const p of bad) {
      expect(() => validateChunkingParams(p), JSON.stringify(p)).toThrow(RangeError);
      expect(() => new FastCdcChunker(p)).toThrow(RangeError);
      expect(() => cutPoint(Buffer.alloc(10), 0, 10, p)).toThrow(RangeError);
    }
    for (const p of bad.slice(0, 3)) expect(() => compute_chunks(new Uint8Array(10), p.minSize, p.avgSize, p.maxSize)).toThrow(RangeError);
  });
});
