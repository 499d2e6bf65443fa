import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeChunk, type EncodedChunk } from '../pack/chunk-frame.js';
import { PackingPool } from './packing.pool.js';

const KEY = createHash('sha256').update('pool data key').digest();
const id = (n: number) => createHash('sha256').update(`pool chunk ${n}`).digest();
const text = (length: number, seed: number) => Buffer.from(`line ${seed} of a log that repeats itself\n`.repeat(Math.ceil(length / 30))).subarray(0, length);

/** Frames laid out one after another, as a pack holds them and a read fetches them. */
function fetchOf(encoded: EncodedChunk[]): { frames: Buffer; chunks: { id: Buffer; codec: number; plainLength: number; at: number; length: number }[] } {
  const frames = Buffer.allocUnsafeSlow(encoded.reduce((sum, chunk) => sum + chunk.frame.length, 0));
  let at = 0;
  const chunks = encoded.map((chunk) => {
    chunk.frame.copy(frames, at);
    const entry = { id: chunk.id, codec: chunk.codec, plainLength: chunk.plainLength, at, length: chunk.frame.length };
    at += chunk.frame.length;
    return entry;
  });
  return { frames, chunks };
}

describe('PackingPool.decode', () => {
  let pool: PackingPool;
  beforeAll(async () => {
    pool = await PackingPool.start(1);
  });
  afterAll(() => pool.close());

  it('returns the plaintexts of adjacent frames, compressed and stored, one after another', async () => {
    const plains = [text(300_000, 1), randomBytes(70_000), text(1_000_000, 2), randomBytes(1)];
    const encoded = plains.map((plain, i) => encodeChunk(KEY, id(i), plain, { level: 1 }));
    expect(encoded.map((chunk) => chunk.codec)).toEqual([1, 0, 1, 0]);
    const { frames, chunks } = fetchOf(encoded);
    const plain = await pool.decode({ frames, dataKey: KEY, chunks });
    expect(plain.equals(Buffer.concat(plains))).toBe(true);
    // the fetched frames moved to the thread rather than being copied
    expect(frames.buffer.byteLength).toBe(0);
  });

  it('copies, and leaves usable, frames that are a view into a larger buffer', async () => {
    const plain = text(10_000, 3);
    const { frames, chunks } = fetchOf([encodeChunk(KEY, id(10), plain)]);
    const larger = Buffer.concat([Buffer.from('before'), frames, Buffer.from('after')]);
    const view = larger.subarray(6, 6 + frames.length);
    expect((await pool.decode({ frames: view, dataKey: KEY, chunks })).equals(plain)).toBe(true);
    expect(larger.subarray(0, 6).toString()).toBe('before');
    expect(view.equals(frames)).toBe(true);
  });

  it('reads frames in shared memory where they are, and writes into shared memory it is given', async () => {
    const plains = [text(200_000, 6), randomBytes(30_000)];
    const { frames, chunks } = fetchOf(plains.map((plain, i) => encodeChunk(KEY, id(30 + i), plain, { level: 1 })));
    const sharedFrames = Buffer.from(new SharedArrayBuffer(frames.length + 100)).subarray(50, 50 + frames.length);
    frames.copy(sharedFrames);
    const slab = Buffer.from(new SharedArrayBuffer(1024 * 1024));
    const into = slab.subarray(10, 10 + 230_000);
    const plain = await pool.decode({ frames: sharedFrames, dataKey: KEY, chunks, into });
    expect(plain.buffer).toBe(slab.buffer);
    expect(plain.byteOffset).toBe(10);
    expect(plain.equals(Buffer.concat(plains))).toBe(true);
    expect(sharedFrames.equals(frames)).toBe(true); // still there: shared, not moved
    // the output must be exactly the plaintexts' length, and shared
    await expect(pool.decode({ frames: sharedFrames, dataKey: KEY, chunks, into: slab.subarray(0, 1000) })).rejects.toThrow(/output of 1000 bytes/);
    await expect(pool.decode({ frames: sharedFrames, dataKey: KEY, chunks, into: Buffer.alloc(230_000) })).rejects.toThrow(/shared memory/);
  });

  it('fails the whole fetch when one frame is damaged, and the pool keeps working', async () => {
    const plains = [text(50_000, 4), text(60_000, 5)];
    const encoded = plains.map((plain, i) => encodeChunk(KEY, id(20 + i), plain));
    const damaged = fetchOf(encoded);
    damaged.frames[damaged.chunks[1].at + 20] ^= 0x01;
    await expect(pool.decode({ frames: damaged.frames, dataKey: KEY, chunks: damaged.chunks })).rejects.toThrow(/tag does not match/);
    const wrongKey = fetchOf(encoded);
    await expect(pool.decode({ frames: wrongKey.frames, dataKey: randomBytes(32), chunks: wrongKey.chunks })).rejects.toThrow(/tag does not match/);
    const intact = fetchOf(encoded);
    expect((await pool.decode({ frames: intact.frames, dataKey: KEY, chunks: intact.chunks })).equals(Buffer.concat(plains))).toBe(true);
  });
});
