import { randomBytes, randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import type { ResolvedConfig } from '@ferry/config';
import { packBlobName } from '@ferry/packing';
import { BlobStore } from '@ferry/storage';
import { PackFetcher } from '../../apps/gateway/src/read/pack.fetcher.js';
import { ReadSlabs } from '../../apps/gateway/src/read/read.slabs.js';

const MiB = 1024 * 1024;

/** The real BlobStore on the test Azurite, counting the ranged reads it is asked for. */
class CountingBlobStore extends BlobStore {
  readonly reads: { blob: string; offset: number; count: number }[] = [];

  override readRange(container: string, blobName: string, offset: number, count: number, into?: Buffer): Promise<Buffer> {
    this.reads.push({ blob: `${container}/${blobName}`, offset, count });
    return super.readRange(container, blobName, offset, count, into);
  }
}

describe('PackFetcher: pack reads with read-ahead (real Azurite)', () => {
  const containerA = `fetch-a-${randomBytes(4).toString('hex')}`;
  const containerB = `fetch-b-${randomBytes(4).toString('hex')}`;
  const packId = randomUUID();
  const packA = randomBytes(20 * MiB);
  const packB = randomBytes(20 * MiB);
  let blobs: CountingBlobStore;
  let slabs: ReadSlabs;

  const fetcher = (aheadBytes = 4 * MiB, cacheBytes = 16 * MiB) => {
    blobs.reads.length = 0;
    const config = { read: { aheadBytes, cacheBytes } } as ResolvedConfig;
    slabs = new ReadSlabs(config);
    return new PackFetcher(config, blobs, slabs);
  };

  /** Reads of pack A that check the bytes they get and release them at once. */
  const readerOf = (packs: PackFetcher) => async (at: number, length: number, reach?: number) => {
    const got = await packs.read(containerA, packId, packA.length, at, length, reach);
    expect(got.bytes.equals(packA.subarray(at, at + length))).toBe(true);
    got.release();
  };

  beforeAll(async () => {
    blobs = new CountingBlobStore(inject('azurite'));
    // the same pack id in two tenants' containers, with different bytes
    await blobs.putBuffers(containerA, packBlobName(packId), [packA]);
    await blobs.putBuffers(containerB, packBlobName(packId), [packB]);
  });

  it('fetches a first read alone, and reads ahead once a read continues where one ended', async () => {
    const packs = fetcher();
    expect((await packs.read(containerA, packId, packA.length, 1000, 300_000)).bytes.equals(packA.subarray(1000, 301_000))).toBe(true);
    expect(blobs.reads).toEqual([{ blob: `${containerA}/${packBlobName(packId)}`, offset: 1000, count: 300_000 }]);
    expect(packs.cachedBytes).toBe(0);
    // continues it: one request reaching 4 MiB ahead, and the reads that follow are served from it
    let at = 301_000;
    for (let i = 0; i < 10; i++, at += 300_000) {
      expect((await packs.read(containerA, packId, packA.length, at, 300_000)).bytes.equals(packA.subarray(at, at + 300_000))).toBe(true);
    }
    expect(blobs.reads.map((read) => [read.offset, read.count])).toEqual([
      [1000, 300_000],
      [301_000, 4 * MiB],
    ]);
    expect(packs.cachedBytes).toBe(4 * MiB);
    // a read that runs past the span continues it again
    const past = 301_000 + 4 * MiB - 100;
    expect((await packs.read(containerA, packId, packA.length, past, 300_000)).bytes.equals(packA.subarray(past, past + 300_000))).toBe(true);
    expect(blobs.reads.at(-1)).toMatchObject({ offset: past, count: 4 * MiB });
  });

  it('shares one request among concurrent reads of what is being fetched ahead', async () => {
    const packs = fetcher();
    await packs.read(containerA, packId, packA.length, 0, 100_000);
    const reads = await Promise.all(Array.from({ length: 8 }, (_, i) => packs.read(containerA, packId, packA.length, 100_000 * (i + 1), 100_000)));
    reads.forEach(({ bytes }, i) => expect(bytes.equals(packA.subarray(100_000 * (i + 1), 100_000 * (i + 2)))).toBe(true));
    expect(blobs.reads.map((read) => [read.offset, read.count])).toEqual([
      [0, 100_000],
      [100_000, 4 * MiB],
    ]);
  });

  it('does not read ahead for reads in no order, past the end of the pack, or when turned off', async () => {
    const packs = fetcher();
    for (const offset of [15 * MiB, 2 * MiB, 9 * MiB, 5 * MiB]) {
      expect((await packs.read(containerA, packId, packA.length, offset, 50_000)).bytes.equals(packA.subarray(offset, offset + 50_000))).toBe(true);
    }
    expect(blobs.reads.map((read) => read.count)).toEqual([50_000, 50_000, 50_000, 50_000]);
    // continuing near the end reaches the end of the pack, not beyond it
    const tail = packA.length - 3 * MiB;
    await packs.read(containerA, packId, packA.length, tail - 50_000, 50_000);
    expect((await packs.read(containerA, packId, packA.length, tail, 50_000)).bytes.equals(packA.subarray(tail, tail + 50_000))).toBe(true);
    expect(blobs.reads.at(-1)).toMatchObject({ offset: tail, count: 3 * MiB });

    const off = fetcher(0);
    await off.read(containerA, packId, packA.length, 0, 50_000);
    await off.read(containerA, packId, packA.length, 50_000, 50_000);
    expect(blobs.reads.map((read) => read.count)).toEqual([50_000, 50_000]);
    expect(off.cachedBytes).toBe(0);
  });

  it('keeps at most cacheBytes, dropping the least recently used span first', async () => {
    const packs = fetcher(4 * MiB, 9 * MiB);
    // three sequential streams through the pack, each fetching a 4 MiB span ahead
    for (const base of [0, 6 * MiB, 12 * MiB]) {
      await packs.read(containerA, packId, packA.length, base, 1000);
      await packs.read(containerA, packId, packA.length, base + 1000, 1000);
    }
    expect(packs.cachedBytes).toBe(8 * MiB);
    const before = blobs.reads.length;
    // the first stream's span is gone: its next read fetches again; the third's is still there
    await packs.read(containerA, packId, packA.length, 12 * MiB + 5000, 1000);
    expect(blobs.reads.length).toBe(before);
    expect((await packs.read(containerA, packId, packA.length, 3000, 1000)).bytes.equals(packA.subarray(3000, 4000))).toBe(true);
    expect(blobs.reads.length).toBe(before + 1);
    expect(packs.cachedBytes).toBeLessThanOrEqual(9 * MiB);
  });

  it('never serves one container the bytes of another, though the pack id is the same', async () => {
    const packs = fetcher();
    await packs.read(containerA, packId, packA.length, 0, 10_000);
    await packs.read(containerA, packId, packA.length, 10_000, 10_000); // A's span, 4 MiB ahead
    expect((await packs.read(containerB, packId, packB.length, 20_000, 10_000)).bytes.equals(packB.subarray(20_000, 30_000))).toBe(true);
    expect(blobs.reads.at(-1)).toMatchObject({ blob: `${containerB}/${packBlobName(packId)}`, offset: 20_000, count: 10_000 });
  });

  it('fails a read of a missing pack, and keeps nothing of it', async () => {
    const packs = fetcher();
    const missing = randomUUID();
    await expect(packs.read(containerA, missing, 8 * MiB, 0, 1000)).rejects.toThrow();
    await expect(packs.read(containerA, missing, 8 * MiB, 1000, 1000)).rejects.toThrow();
    expect(packs.cachedBytes).toBe(0);
    // both went to Blob: a failed fetch ahead is not kept for the reads after it
    await expect(packs.read(containerA, missing, 8 * MiB, 1500, 100)).rejects.toThrow();
    expect(blobs.reads).toHaveLength(3);
  });

  it('hands out views of reused slabs, and never reuses a slab while a reader still holds bytes of it', async () => {
    const packs = fetcher(4 * MiB, 4 * MiB); // room for one span
    const read = (at: number, length: number) => packs.read(containerA, packId, packA.length, at, length);
    const first = await read(0, 1000); // a first read, alone, into a small slab
    expect(first.bytes.equals(packA.subarray(0, 1000))).toBe(true);
    first.release();
    first.release(); // twice is harmless
    expect(slabs.small.idleCount).toBe(1);
    const held = await read(1000, 300_000); // continues: a 4 MiB span, into a large slab
    expect(slabs.large.allocated).toBe(1);
    // two more streams, each with a span of its own: the held span is dropped from the cache at once,
    // but its slab stays with its reader while the next spans take (and reuse) other slabs
    for (const base of [8 * MiB, 14 * MiB]) {
      (await read(base, 1000)).release();
      const next = await read(base + 1000, 1000);
      expect(next.bytes.equals(packA.subarray(base + 1000, base + 2000))).toBe(true);
      next.release();
      expect(held.bytes.equals(packA.subarray(1000, 301_000))).toBe(true);
    }
    expect(packs.cachedBytes).toBe(4 * MiB);
    expect(slabs.large.allocated).toBe(3);
    expect(slabs.large.idleCount).toBe(1); // the second span's, freed when the third pushed it out
    held.release();
    expect(slabs.large.idleCount).toBe(2);
    // a fourth stream's span takes a free slab rather than a new one
    (await read(18 * MiB, 1000)).release();
    (await read(18 * MiB + 1000, 1000)).release();
    expect(slabs.large.allocated).toBe(3);
    expect(slabs.small.allocated).toBe(1);
  });

  it('reads ahead at once, as far as the reader says it will go and no further, on a first read', async () => {
    const read = readerOf(fetcher(4 * MiB, 16 * MiB));
    // an object whose frames run from 1 MiB to 3.5 MiB: one request for all of them
    await read(MiB, 500_000, 3.5 * MiB);
    for (let at = MiB + 500_000; at + 500_000 <= 3.5 * MiB; at += 500_000) await read(at, 500_000);
    expect(blobs.reads.map((entry) => [entry.offset, entry.count])).toEqual([[MiB, 2.5 * MiB]]);
    // a reach beyond aheadBytes is cut to it
    await read(10 * MiB, 1000, 19 * MiB);
    expect(blobs.reads.at(-1)).toMatchObject({ offset: 10 * MiB, count: 4 * MiB });
    // a reach no further than the read itself: the read alone
    await read(16 * MiB, 1000, 16 * MiB + 1000);
    expect(blobs.reads.at(-1)).toMatchObject({ offset: 16 * MiB, count: 1000 });
  });

  it('never fetches bytes it keeps twice: a read-ahead stops where kept bytes start, and a read running into them comes alone', async () => {
    const read = readerOf(fetcher(4 * MiB, 16 * MiB));
    // two restores at once: one object's frames from 0, another's from 3 MiB, each read ahead
    await read(0, 500_000, 2 * MiB);
    await read(3 * MiB, 500_000, 6 * MiB);
    // the first continues: its read-ahead stops at 3 MiB rather than fetching 3-4.5 MiB again
    await read(2 * MiB, 500_000);
    // a read running from before the second span into it is fetched alone, and kept nowhere
    await read(3 * MiB - 1000, 200_000);
    // what lies in the kept spans is served from them
    await read(2 * MiB + 600_000, 300_000);
    await read(5 * MiB, 500_000);
    expect(blobs.reads.map((entry) => [entry.offset, entry.count])).toEqual([
      [0, 2 * MiB],
      [3 * MiB, 3 * MiB],
      [2 * MiB, MiB],
      [3 * MiB - 1000, 200_000],
    ]);
    const fetched = blobs.reads.reduce((sum, entry) => sum + entry.count, 0);
    expect(fetched).toBe(6 * MiB + 200_000);
  });

  it('fetches the rest of a block once a second read lands in it out of order, and serves the reads that follow from it', async () => {
    const read = readerOf(fetcher(4 * MiB, 16 * MiB));
    // restores of objects packed near each other, several at once: each read a first one
    await read(5 * MiB + 300_000, 280_000);
    await read(6 * MiB + 100_000, 280_000);
    await read(4 * MiB + 10_000, 280_000);
    await read(7 * MiB, 280_000);
    // a read in another block is a first one there: alone
    await read(9 * MiB, 280_000);
    // a read running past the block's end continues it: read ahead from there
    await read(8 * MiB - 100_000, 200_000);
    expect(blobs.reads.map((entry) => [entry.offset, entry.count])).toEqual([
      [5 * MiB + 300_000, 280_000],
      [4 * MiB, 4 * MiB],
      [9 * MiB, 280_000],
      [8 * MiB - 100_000, 4 * MiB],
    ]);
  });
});
