import { describe, expect, it } from 'vitest';
import type { ResolvedConfig } from '@ferry/config';
import { FETCH_BYTES, ReadSlabs } from './read.slabs.js';

const MiB = 1024 * 1024;

describe('ReadSlabs', () => {
  const slabsFor = (cacheBytes: number) => new ReadSlabs({ read: { aheadBytes: 8 * MiB, cacheBytes } } as ResolvedConfig);

  it('keeps free as many large slabs as the read-ahead cache and the reads in flight cycle through', () => {
    // the default cache: 32 spans, each a slab, and the reads in flight beside them
    const slabs = slabsFor(256 * MiB);
    for (let round = 0; round < 3; round++) {
      const taken = Array.from({ length: 60 }, () => slabs.large.take());
      for (const slab of taken) slabs.large.settle(slab);
    }
    expect(slabs.large.allocated).toBe(60);
    expect(slabs.large.idleCount).toBe(60);
    expect(slabs.large.slabBytes).toBe(FETCH_BYTES);
  });

  it('keeps room for the reads in flight without a read-ahead cache, and sizes by bytes', () => {
    const slabs = slabsFor(0);
    const taken = Array.from({ length: 50 }, () => slabs.large.take());
    for (const slab of taken) slabs.large.settle(slab);
    expect(slabs.large.idleCount).toBe(32);
    const none = slabsFor(0);
    expect(none.sized(FETCH_BYTES)).toBe(none.large);
    expect(none.sized(FETCH_BYTES + 1)).toBeUndefined();
  });
});
