import { createCipheriv, createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkIdOf } from '../crypto/chunk-id.js';
import { decodeChunk, encodeChunk, PackIntegrityError } from './chunk-frame.js';
import { PackBuilder } from './pack.builder.js';
import { readPackIndex, sliceFrames, TAIL_READ_BYTES, type ReadRange } from './pack.reader.js';
import { PACK_HEADER_BYTES, PACK_TRAILER_BYTES, type CatalogEvent } from './pack-format.js';

const DATA_KEY = createHash('sha256').update('data key 2').digest();
const ID_KEY = createHash('sha256').update('chunk-id key').digest();
const KEY_NUMBER = 2;

/** Deterministic incompressible bytes: an AES-CTR keystream seeded by a string. */
const noise = (length: number, seed: string) =>
  createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(Buffer.alloc(length));

const keyFor = async (keyNumber: number) => {
  if (keyNumber !== KEY_NUMBER) throw new Error(`asked for data key ${keyNumber}`);
  return DATA_KEY;
};

function reader(bytes: Buffer, calls: [number, number][] = []): ReadRange {
  return async (offset, length) => {
    calls.push([offset, length]);
    return bytes.subarray(offset, offset + length);
  };
}

/** ~50 chunks, alternately compressible and random, of 1-6 KiB; extra events make the index larger. */
function buildPack(chunkCount: number, events: CatalogEvent[] = []) {
  const packId = randomUUID();
  const plains = Array.from({ length: chunkCount }, (_, i) => {
    const length = 1024 + ((i * 733) % 5120);
    return i % 2 === 0 ? Buffer.from(`chunk ${i} says hello; `.repeat(length / 8)).subarray(0, length) : noise(length, `chunk ${i}`);
  });
  const builder = new PackBuilder(packId, randomUUID(), KEY_NUMBER);
  for (const plain of plains) builder.append(encodeChunk(DATA_KEY, chunkIdOf(ID_KEY, plain), plain, { level: 1 }));
  const parts = builder.seal(DATA_KEY, events, new Date('2026-11-29T05:00:00.000Z'));
  return { packId, plains, parts, bytes: Buffer.concat(parts) };
}

describe('readPackIndex', () => {
  it('reads back a pack of 50 chunks, every chunk intact', async () => {
    const { packId, plains, bytes } = buildPack(50);
    const calls: [number, number][] = [];
    const { keyNumber, index } = await readPackIndex(reader(bytes, calls), bytes.length, keyFor, packId);
    expect(bytes.length).toBeGreaterThan(TAIL_READ_BYTES);
    expect(calls).toHaveLength(2); // the tail (trailer and index) and the header, at once
    expect(keyNumber).toBe(KEY_NUMBER);
    expect(index.chunks).toHaveLength(50);
    expect(new Set(index.chunks.map((c) => c.codec))).toEqual(new Set([0, 1]));
    const frames = sliceFrames(bytes, index.chunks);
    for (const [i, entry] of index.chunks.entries()) {
      expect(entry.id.equals(chunkIdOf(ID_KEY, plains[i]))).toBe(true);
      expect(decodeChunk(DATA_KEY, entry.id, entry.codec, entry.plainLength, frames[i]).equals(plains[i])).toBe(true);
    }
    // a ranged read of frames 10-12 only
    const first = index.chunks[10];
    const last = index.chunks[12];
    const range = bytes.subarray(first.offset, last.offset + last.frameLength);
    const some = sliceFrames(range, index.chunks.slice(10, 13), first.offset);
    expect(decodeChunk(DATA_KEY, last.id, last.codec, last.plainLength, some[2]).equals(plains[12])).toBe(true);
    expect(() => sliceFrames(range, [index.chunks[13]], first.offset)).toThrow(PackIntegrityError);
  });

  it('reads a small pack in one request and an index larger than the tail read in two more', async () => {
    const small = buildPack(3);
    const calls: [number, number][] = [];
    await readPackIndex(reader(small.bytes, calls), small.bytes.length, keyFor, small.packId);
    expect(calls).toEqual([[0, small.bytes.length]]);

    // random metadata does not compress: this index outgrows TAIL_READ_BYTES
    const big: CatalogEvent = { seq: 1, type: 'bucket.create', at: '2026-11-29T05:00:00.000Z', bucket: noise(120_000, 'meta').toString('base64') };
    const large = buildPack(50, [big]);
    const bigCalls: [number, number][] = [];
    const { index } = await readPackIndex(reader(large.bytes, bigCalls), large.bytes.length, keyFor, large.packId);
    expect(index.events).toEqual([big]);
    expect(bigCalls).toHaveLength(3);
  });

  it('refuses another pack id, a wrong size and short reads', async () => {
    const { packId, bytes } = buildPack(5);
    await expect(readPackIndex(reader(bytes), bytes.length, keyFor, randomUUID())).rejects.toThrow(/header names pack/);
    await expect(readPackIndex(reader(bytes), bytes.length - 1, keyFor, packId)).rejects.toThrow(PackIntegrityError);
    await expect(readPackIndex(reader(bytes), 50, keyFor, packId)).rejects.toThrow(/too small/);
    await expect(readPackIndex(async () => Buffer.alloc(0), bytes.length, keyFor, packId)).rejects.toThrow(/returned 0/);
  });

  it('detects any flipped byte: the affected chunk or the index fails, nothing else changes', async () => {
    const { packId, plains, bytes } = buildPack(50);
    const original = await readPackIndex(reader(bytes), bytes.length, keyFor, packId);
    const originalIds = Buffer.concat(original.index.chunks.map((c) => c.id));
    const indexOffset = bytes.readUInt32LE(bytes.length - PACK_TRAILER_BYTES); // < 2^32 here
    const regions: [number, number][] = [
      [0, PACK_HEADER_BYTES],
      ...original.index.chunks.map((c): [number, number] => [c.offset, c.offset + c.frameLength]),
      [indexOffset, bytes.length - PACK_TRAILER_BYTES],
      [bytes.length - PACK_TRAILER_BYTES, bytes.length],
    ];
    const positions = new Set(regions.flatMap(([start, end]) => [start, end - 1]));
    for (let x = 12345; positions.size < 200; ) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      positions.add(x % bytes.length);
    }

    let indexFailures = 0;
    for (const position of positions) {
      const tampered = Buffer.from(bytes);
      tampered[position] ^= 1 + (position % 255);
      const chunkHit = original.index.chunks.findIndex((c) => position >= c.offset && position < c.offset + c.frameLength);
      const read = readPackIndex(reader(tampered), tampered.length, keyFor, packId);
      if (chunkHit < 0) {
        await expect(read, `position ${position}`).rejects.toThrow(PackIntegrityError);
        indexFailures++;
        continue;
      }
      const { index } = await read;
      if (position === regions[1][0]) expect(index).toEqual(original.index); // once: the deep compare is slow
      else expect(Buffer.concat(index.chunks.map((c) => c.id)).equals(originalIds)).toBe(true);
      // plain checks, not one expect per chunk: 50 chunks x 200 positions
      const outcomes = sliceFrames(tampered, index.chunks).map((frame, i) => {
        const entry = index.chunks[i];
        try {
          return decodeChunk(DATA_KEY, entry.id, entry.codec, entry.plainLength, frame).equals(plains[i]) ? 'same' : 'DIFFERENT';
        } catch (error) {
          return error instanceof PackIntegrityError ? 'failed' : String(error);
        }
      });
      const expected = outcomes.map((_, i) => (i === chunkHit ? 'failed' : 'same'));
      expect(outcomes, `position ${position}`).toEqual(expected);
    }
    // first and last bytes of header, index and trailer, plus whatever the sample hit there
    expect(indexFailures).toBeGreaterThanOrEqual(6);
    expect(positions.size - indexFailures).toBeGreaterThanOrEqual(100);
  });
});
