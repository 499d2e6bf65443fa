import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkCodec, decodeChunk, encodeChunk, FRAME_OVERHEAD } from './chunk-frame.js';
import { PackBuilder } from './pack.builder.js';
import { decodePackHeader, decodePackIndex, decodePackTrailer, PACK_HEADER_BYTES, PACK_TRAILER_BYTES } from './pack-format.js';

const KEY = createHash('sha256').update('data key').digest();
const id = (n: number) => createHash('sha256').update(`chunk ${n}`).digest();
const plain = (n: number) => Buffer.from(`chunk number ${n} `.repeat(50 + n * 10));

describe('PackBuilder', () => {
  it('lays out header, frames, index and trailer', () => {
    const packId = randomUUID();
    const tenantId = randomUUID();
    const builder = new PackBuilder(packId, tenantId, 5);
    expect(builder.size).toBe(PACK_HEADER_BYTES);
    const chunks = [1, 2, 3].map((n) => encodeChunk(KEY, id(n), plain(n)));
    const entries = chunks.map((chunk) => builder.append(chunk));
    expect(builder.chunkCount).toBe(3);
    expect(entries[0].offset).toBe(PACK_HEADER_BYTES);
    expect(entries[1].offset).toBe(PACK_HEADER_BYTES + chunks[0].frame.length);
    expect(builder.size).toBe(PACK_HEADER_BYTES + chunks.reduce((sum, chunk) => sum + chunk.frame.length, 0));

    const createdAt = new Date('2026-11-29T05:00:00.000Z');
    const parts = builder.seal(KEY, [{ seq: 1, type: 'bucket.create', at: createdAt.toISOString(), bucket: 'b' }], createdAt);
    expect(parts).toHaveLength(3 + 3);
    chunks.forEach((chunk, i) => expect(parts[1 + i]).toBe(chunk.frame)); // no copies
    const pack = Buffer.concat(parts);
    expect(decodePackHeader(pack.subarray(0, PACK_HEADER_BYTES))).toEqual({ packId, keyNumber: 5 });
    const trailer = decodePackTrailer(pack.subarray(pack.length - PACK_TRAILER_BYTES));
    expect(trailer).toEqual({ indexOffset: builder.size, indexLength: parts[4].length, keyNumber: 5 });
    const index = decodePackIndex(KEY, packId, 5, pack.subarray(trailer.indexOffset, trailer.indexOffset + trailer.indexLength));
    expect(index).toEqual({ version: 1, packId, tenantId, createdAt: createdAt.toISOString(), chunks: entries, events: expect.any(Array) });
    for (const [i, entry] of index.chunks.entries()) {
      const frame = pack.subarray(entry.offset, entry.offset + entry.frameLength);
      expect(decodeChunk(KEY, entry.id, entry.codec, entry.plainLength, frame).equals(plain(i + 1))).toBe(true);
    }
  });

  it('lays out the frames of each group together, groups in order of first appearance', () => {
    const packId = randomUUID();
    const builder = new PackBuilder(packId, randomUUID(), 1);
    const chunk = (n: number) => encodeChunk(KEY, id(n), plain(n));
    // two objects repacked at once, their frames arriving interleaved, and one frame of no group
    const order: [number, string | undefined][] = [[1, 'a'], [2, 'b'], [3, 'a'], [4, 'b'], [5, undefined], [6, 'a']];
    const frames = new Map(order.map(([n]) => [n, chunk(n)]));
    const entries = new Map(order.map(([n, group]) => [n, builder.append(frames.get(n)!, group)]));
    const parts = builder.seal(KEY, []);
    const laidOut = [1, 3, 6, 2, 4, 5];
    laidOut.forEach((n, i) => expect(parts[1 + i]).toBe(frames.get(n)!.frame));
    let offset = PACK_HEADER_BYTES;
    for (const n of laidOut) {
      expect(entries.get(n)!.offset).toBe(offset);
      offset += frames.get(n)!.frame.length;
    }
    const pack = Buffer.concat(parts);
    const trailer = decodePackTrailer(pack.subarray(pack.length - PACK_TRAILER_BYTES));
    expect(trailer.indexOffset).toBe(offset);
    const index = decodePackIndex(KEY, packId, 1, pack.subarray(trailer.indexOffset, trailer.indexOffset + trailer.indexLength));
    expect(index.chunks.map((entry) => entry.offset)).toEqual(laidOut.map((n) => entries.get(n)!.offset));
    for (const n of laidOut) {
      const entry = entries.get(n)!;
      expect(decodeChunk(KEY, entry.id, entry.codec, entry.plainLength, pack.subarray(entry.offset, entry.offset + entry.frameLength)).equals(plain(n))).toBe(true);
    }
  });

  it('lays out groups by the order they were given, then groups given none, then frames of no group', () => {
    const builder = new PackBuilder(randomUUID(), randomUUID(), 1);
    const frames = new Map([1, 2, 3, 4, 5, 6, 7].map((n) => [n, encodeChunk(KEY, id(n), plain(n))]));
    // as appended: [frame, group, order]; group c's second frame brings another order, which does not count
    const appended: [number, string | undefined, number | undefined][] = [
      [1, 'c', 30],
      [2, undefined, undefined],
      [3, 'none', undefined],
      [4, 'a', 10],
      [5, 'c', 5],
      [6, 'b', 20],
      [7, 'a', 10],
    ];
    const entries = new Map(appended.map(([n, group, order]) => [n, builder.append(frames.get(n)!, group, order)]));
    const parts = builder.seal(KEY, []);
    const laidOut = [4, 7, 6, 1, 5, 3, 2];
    laidOut.forEach((n, i) => expect(parts[1 + i]).toBe(frames.get(n)!.frame));
    let offset = PACK_HEADER_BYTES;
    for (const n of laidOut) {
      expect(entries.get(n)!.offset).toBe(offset);
      offset += frames.get(n)!.frame.length;
    }
  });

  it('with an arena, copies each frame into it, so the frame given may be overwritten at once', () => {
    const packId = randomUUID();
    const frames = [1, 2, 3].map((n) => encodeChunk(KEY, id(n), plain(n)));
    // room for the first two frames only: the third goes into memory of its own
    const arena = Buffer.alloc(frames[0].frame.length + frames[1].frame.length + 10);
    let taken = 0;
    const builder = new PackBuilder(packId, randomUUID(), 1, () => (taken++, arena));
    expect(taken).toBe(0);
    const scratch = Buffer.alloc(Math.max(...frames.map((chunk) => chunk.frame.length)));
    const entries = frames.map((chunk, i) => {
      // each frame handed over in the same scratch memory, as encode slabs are reused
      const view = scratch.subarray(0, chunk.frame.copy(scratch));
      const entry = builder.append({ ...chunk, frame: view }, i === 1 ? 'b' : 'a');
      scratch.fill(0xee);
      return entry;
    });
    expect(taken).toBe(1);
    const parts = builder.seal(KEY, []);
    expect(parts[1].buffer).toBe(arena.buffer);
    expect(parts[3].buffer).toBe(arena.buffer);
    expect(parts[2].buffer).not.toBe(arena.buffer);
    expect(parts[2].buffer).not.toBe(scratch.buffer);
    const pack = Buffer.concat(parts);
    for (const [i, entry] of entries.entries()) {
      const frame = pack.subarray(entry.offset, entry.offset + entry.frameLength);
      expect(frame.equals(frames[i].frame)).toBe(true);
      expect(decodeChunk(KEY, entry.id, entry.codec, entry.plainLength, frame).equals(plain(i + 1))).toBe(true);
    }
  });

  it('takes no arena for a pack of catalog events only', () => {
    let taken = 0;
    const builder = new PackBuilder(randomUUID(), randomUUID(), 1, () => (taken++, Buffer.alloc(1024)));
    builder.seal(KEY, [{ seq: 1, type: 'bucket.create', at: new Date().toISOString(), bucket: 'b' }]);
    expect(taken).toBe(0);
  });

  it('refuses appends and a second seal once sealed', () => {
    const builder = new PackBuilder(randomUUID(), randomUUID(), 1);
    builder.seal(KEY, []);
    expect(() => builder.append(encodeChunk(KEY, id(1), plain(1)))).toThrow(/sealed/);
    expect(() => builder.seal(KEY, [])).toThrow(/sealed/);
  });

  it('stays usable when sealing fails', () => {
    const builder = new PackBuilder(randomUUID(), randomUUID(), 1);
    builder.append(encodeChunk(KEY, id(1), plain(1)));
    expect(() => builder.seal(Buffer.alloc(16), [])).toThrow(/32 bytes/);
    builder.append(encodeChunk(KEY, id(2), plain(2)));
    expect(builder.seal(KEY, [])).toHaveLength(5);
  });

  it('rejects a malformed pack id, key number or frame', () => {
    expect(() => new PackBuilder('pack-1', randomUUID(), 1)).toThrow(/UUID/);
    expect(() => new PackBuilder(randomUUID(), randomUUID(), 0)).toThrow(/key number/);
    const builder = new PackBuilder(randomUUID(), randomUUID(), 1);
    expect(() => builder.append({ id: id(1), frame: Buffer.alloc(FRAME_OVERHEAD - 1), plainLength: 0, codec: ChunkCodec.Stored })).toThrow(RangeError);
    expect(() => builder.append({ id: id(1), frame: Buffer.alloc(FRAME_OVERHEAD + 5), plainLength: 4, codec: ChunkCodec.Stored })).toThrow(RangeError);
    expect(builder.chunkCount).toBe(0);
  });
});
