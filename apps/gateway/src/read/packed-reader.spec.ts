import { describe, expect, it } from 'vitest';
import type { ManifestEntry } from '@ferry/catalog';
import { firstCovering, planFetches, reaches } from './packed-reader.js';

const MiB = 1024 * 1024;

/** A manifest of chunks laid out one after another in the object, with their frames as given. */
function manifest(chunks: { pack: string; frameOffset: number; frameLength: number; plainLength: number; cached?: boolean }[]): ManifestEntry[] {
  let offset = 0;
  return chunks.map((chunk, i) => {
    const entry: ManifestEntry = {
      offset,
      length: chunk.plainLength,
      skip: 0,
      plainLength: chunk.plainLength,
      chunkId: Buffer.alloc(32, i),
      packId: chunk.pack,
      packSize: 64 * MiB,
      keyNumber: 1,
      frameOffset: chunk.frameOffset,
      frameLength: chunk.frameLength,
      codec: 1,
      ...(chunk.cached ? { cached: { spool: [{ path: 'x', size: 1 }], at: 0 } } : {}),
    };
    offset += chunk.plainLength;
    return entry;
  });
}

/** Adjacent frames of one pack, `count` of them, each `frame` bytes for `plain` bytes of plaintext. */
const run = (pack: string, count: number, frame: number, plain: number, from = 0) =>
  Array.from({ length: count }, (_, i) => ({ pack, frameOffset: from + i * frame, frameLength: frame, plainLength: plain }));

const shape = (fetches: ReturnType<typeof planFetches>) => fetches.map((fetch) => [fetch.packId, fetch.start, fetch.length, fetch.entries.length]);

describe('planning the fetches of a packed read', () => {
  it('finds the first entry covering a position by binary search', () => {
    const entries = manifest(run('p', 5, 100, 1000));
    expect([0, 999, 1000, 1999, 4999].map((position) => firstCovering(entries, position))).toEqual([0, 0, 1, 1, 4]);
  });

  it('reads adjacent frames of one pack together, and splits at another pack or a gap', () => {
    const entries = manifest([...run('p', 3, 100, 1000), ...run('q', 2, 50, 1000), ...run('q', 1, 50, 1000, 500)]);
    expect(shape(planFetches(entries, { start: 0, end: 5999 }))).toEqual([
      ['p', 0, 300, 3],
      ['q', 0, 100, 2],
      ['q', 500, 50, 1],
    ]);
  });

  it('takes only the entries the range touches', () => {
    const entries = manifest(run('p', 10, 100, 1000));
    const fetches = planFetches(entries, { start: 2500, end: 4000 });
    expect(shape(fetches)).toEqual([['p', 200, 300, 3]]);
    expect(planFetches(entries, { start: 5, end: 4 })).toEqual([]);
  });

  it('holds at most 8 MiB of frames and 8 MiB of plaintext in one fetch', () => {
    // incompressible: the frames reach the limit
    expect(shape(planFetches(manifest(run('p', 12, MiB, MiB)), { start: 0, end: 12 * MiB - 1 }))).toEqual([
      ['p', 0, 8 * MiB, 8],
      ['p', 8 * MiB, 4 * MiB, 4],
    ]);
    // compressible 4x: the plaintext reaches it first
    const small = planFetches(manifest(run('p', 12, MiB / 4, MiB)), { start: 0, end: 12 * MiB - 1 });
    expect(shape(small)).toEqual([
      ['p', 0, 2 * MiB, 8],
      ['p', 2 * MiB, MiB, 4],
    ]);
    expect(small.map((fetch) => fetch.plainBytes)).toEqual([8 * MiB, 4 * MiB]);
  });

  it('gives a chunk with a cached place a fetch of its own, so it can be read from the spool', () => {
    const chunks = run('p', 5, 100, 1000);
    const entries = manifest(chunks.map((chunk, i) => ({ ...chunk, cached: i === 1 || i === 2 })));
    expect(shape(planFetches(entries, { start: 0, end: 4999 }))).toEqual([
      ['p', 0, 100, 1],
      ['p', 100, 100, 1],
      ['p', 200, 100, 1],
      ['p', 300, 200, 2],
    ]);
  });

  it('tells each fetch how far the read goes through its pack in order, up to a gap, another pack or a cached chunk', () => {
    // 24 chunks of 1 MiB in 300 KiB frames: three fetches of 8 chunks, one after another in pack p;
    // then a gap in p, then pack q, then a cached chunk and the rest of q
    const entries = manifest([
      ...run('p', 24, 300_000, MiB),
      ...run('p', 2, 300_000, MiB, 10_000_000),
      ...run('q', 2, 300_000, MiB),
      { pack: 'q', frameOffset: 600_000, frameLength: 300_000, plainLength: MiB, cached: true },
      ...run('q', 2, 300_000, MiB, 900_000),
    ]);
    const fetches = planFetches(entries, { start: 0, end: 31 * MiB - 1 });
    expect(shape(fetches)).toEqual([
      ['p', 0, 2_400_000, 8],
      ['p', 2_400_000, 2_400_000, 8],
      ['p', 4_800_000, 2_400_000, 8],
      ['p', 10_000_000, 600_000, 2],
      ['q', 0, 600_000, 2],
      ['q', 600_000, 300_000, 1],
      ['q', 900_000, 600_000, 2],
    ]);
    const reach = reaches(fetches);
    // (the cached chunk's own fetch, if its spool copy fails, goes on through the frames after it)
    expect(fetches.map((fetch) => reach.get(fetch))).toEqual([7_200_000, 7_200_000, 7_200_000, 10_600_000, 600_000, 1_500_000, 1_500_000]);
  });
});
