import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkBuffer, DEFAULT_CHUNKING } from '../chunking/fastcdc.js';
import { chunkIdOf } from '../crypto/chunk-id.js';
import { decodeChunk, encodeChunk, FRAME_OVERHEAD, type EncodedChunk } from '../pack/chunk-frame.js';
import { ENCODE_BATCH_BYTES, encodeBatches, PackingPool } from './packing.pool.js';
import { framesBound } from './packing.thread.js';

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

describe('PackingPool.cut and encode', () => {
  let pool: PackingPool;
  let dir: string;
  beforeAll(async () => {
    // one thread: every task reuses the same read buffers, so a task that left bytes behind in them
    // (or a chunker that kept a view of one) would show as wrong ids or wrong frames
    pool = await PackingPool.start(1);
    dir = await mkdtemp(join(tmpdir(), 'ferry-pool-'));
  });
  afterAll(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts objects spread over spool files and encodes their chunks, interleaved, into frames that decode to the same bytes', async () => {
    const idKey = createHash('sha256').update('pool id key').digest();
    const objects = [
      Buffer.concat([text(5 * 1024 * 1024 + 17, 1), randomBytes(3 * 1024 * 1024), text(2 * 1024 * 1024, 2)]),
      Buffer.concat([randomBytes(6 * 1024 * 1024 + 5), text(1024 * 1024, 3)]),
    ];
    // the first object in three spool files of uneven sizes, as a multipart upload leaves it
    const splits = [[0, 4 * 1024 * 1024 + 3, 7 * 1024 * 1024, objects[0].length], [0, objects[1].length]];
    const pieces = await Promise.all(
      objects.map((object, o) =>
        Promise.all(
          splits[o].slice(1).map(async (end, i) => {
            const path = join(dir, `object-${o}-${i}`);
            await writeFile(path, object.subarray(splits[o][i], end));
            return { path, size: end - splits[o][i] };
          }),
        ),
      ),
    );
    const cuts = await Promise.all(pieces.map((files) => pool.cut({ pieces: files, idKey, params: DEFAULT_CHUNKING })));
    for (const [o, cut] of cuts.entries()) {
      const expected = chunkBuffer(objects[o]);
      expect(cut.offsets).toEqual(expected.map((chunk) => chunk.offset));
      expect(cut.lengths).toEqual(expected.map((chunk) => chunk.length));
      expect(Buffer.from(cut.ids)).toEqual(Buffer.concat(expected.map((chunk) => chunkIdOf(idKey, chunk.data))));
    }
    const chunks = cuts.map((cut) => cut.offsets.map((offset, i) => ({ id: Buffer.from(cut.ids.subarray(i * 32, i * 32 + 32)), offset, length: cut.lengths[i] })));
    // two chunks at a time, alternating between the objects
    for (let i = 0; i < Math.max(...chunks.map((list) => list.length)); i += 2) {
      for (const o of [0, 1]) {
        const batch = chunks[o].slice(i, i + 2);
        if (batch.length === 0) continue;
        const frames = await pool.encode({ pieces: pieces[o], chunks: batch, dataKey: KEY, zstdLevel: 1 });
        expect(frames).toHaveLength(batch.length);
        for (const [k, frame] of frames.entries()) {
          const chunk = batch[k];
          const plain = decodeChunk(KEY, Buffer.from(frame.id), frame.codec, frame.plainLength, Buffer.from(frame.frame.buffer, frame.frame.byteOffset, frame.frame.byteLength));
          expect(plain.equals(objects[o].subarray(chunk.offset, chunk.offset + chunk.length))).toBe(true);
        }
      }
    }
  });

  it('writes the frames into the shared slab it is given, one after another, and refuses one too small', async () => {
    const object = Buffer.concat([text(600_000, 4), randomBytes(400_000), text(300_000, 5)]);
    const path = join(dir, 'slab-object');
    await writeFile(path, object);
    const pieces = [{ path, size: object.length }];
    const chunks = [0, 600_000, 1_000_000].map((offset, i, all) => ({ id: id(100 + i), offset, length: (all[i + 1] ?? object.length) - offset }));
    const bound = framesBound(chunks);
    expect(bound).toBe(object.length + 3 * FRAME_OVERHEAD);
    const slab = Buffer.from(new SharedArrayBuffer(bound + 100)).fill(0xaa);
    const frames = await pool.encode({ pieces, chunks, dataKey: KEY, zstdLevel: 1 }, slab);
    expect(frames.map((frame) => frame.codec)).toEqual([1, 0, 1]);
    let at = 0;
    for (const [i, frame] of frames.entries()) {
      expect(frame.frame.buffer).toBe(slab.buffer);
      expect(frame.frame.byteOffset).toBe(at);
      at += frame.frame.byteLength;
      const chunk = chunks[i];
      const plain = decodeChunk(KEY, chunk.id, frame.codec, frame.plainLength, Buffer.from(frame.frame.buffer, frame.frame.byteOffset, frame.frame.byteLength));
      expect(plain.equals(object.subarray(chunk.offset, chunk.offset + chunk.length))).toBe(true);
    }
    await expect(pool.encode({ pieces, chunks, dataKey: KEY, zstdLevel: 1 }, Buffer.from(new SharedArrayBuffer(bound - 1)))).rejects.toThrow(/bytes for frames of up to/);
    await expect(pool.encode({ pieces, chunks, dataKey: KEY, zstdLevel: 1 }, Buffer.alloc(bound))).rejects.toThrow(/shared memory/);
  });
});

describe('PackingPool with several tasks per thread', () => {
  let pool: PackingPool;
  let dir: string;
  beforeAll(async () => {
    // one thread taking three tasks at once: their reads ahead interleave in the same thread, so
    // two tasks sharing read buffers would hash or encode each other's bytes
    pool = await PackingPool.start(1, 3);
    dir = await mkdtemp(join(tmpdir(), 'ferry-pool-tasks-'));
  });
  afterAll(async () => {
    await pool.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('cuts and encodes objects concurrently into the ids and frames each has alone', async () => {
    const idKey = createHash('sha256').update('pool tasks id key').digest();
    // several spans each (reads are 4 MiB), and bytes that differ from object to object
    const objects = Array.from({ length: 6 }, (_, o) => Buffer.concat([text(3 * 1024 * 1024 + 1000 * o, 10 + o), randomBytes(2 * 1024 * 1024), text(4 * 1024 * 1024, 20 + o)]));
    const pieces = await Promise.all(
      objects.map(async (object, o) => {
        const path = join(dir, `object-${o}`);
        await writeFile(path, object);
        return [{ path, size: object.length }];
      }),
    );
    const cuts = await Promise.all(pieces.map((files) => pool.cut({ pieces: files, idKey, params: DEFAULT_CHUNKING })));
    const chunks = cuts.map((cut, o) => {
      const expected = chunkBuffer(objects[o]);
      expect(cut.offsets).toEqual(expected.map((chunk) => chunk.offset));
      expect(Buffer.from(cut.ids)).toEqual(Buffer.concat(expected.map((chunk) => chunkIdOf(idKey, chunk.data))));
      return cut.offsets.map((offset, i) => ({ id: Buffer.from(cut.ids.subarray(i * 32, i * 32 + 32)), offset, length: cut.lengths[i] }));
    });
    const encoded = await Promise.all(chunks.map((list, o) => pool.encode({ pieces: pieces[o], chunks: list, dataKey: KEY, zstdLevel: 1 })));
    for (const [o, frames] of encoded.entries()) {
      expect(frames).toHaveLength(chunks[o].length);
      for (const [k, frame] of frames.entries()) {
        const chunk = chunks[o][k];
        const plain = decodeChunk(KEY, chunk.id, frame.codec, frame.plainLength, Buffer.from(frame.frame.buffer, frame.frame.byteOffset, frame.frame.byteLength));
        expect(plain.equals(objects[o].subarray(chunk.offset, chunk.offset + chunk.length))).toBe(true);
      }
    }
  });
});

describe('encodeBatches', () => {
  it('groups chunks in order into tasks of at most ENCODE_BATCH_BYTES, a larger chunk alone', () => {
    const MiB = 1024 * 1024;
    const lengths = [3, 3, 2, 1, 9, 4, 4, 0.5].map((n) => n * MiB);
    const batches = encodeBatches(lengths.map((length, i) => ({ i, length })));
    expect(batches.map((batch) => batch.map((chunk) => chunk.i))).toEqual([[0, 1, 2], [3], [4], [5, 6], [7]]);
    for (const batch of batches) if (batch.length > 1) expect(batch.reduce((sum, chunk) => sum + chunk.length, 0)).toBeLessThanOrEqual(ENCODE_BATCH_BYTES);
    expect(encodeBatches([])).toEqual([]);
  });
});
