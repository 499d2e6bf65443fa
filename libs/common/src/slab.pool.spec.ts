import { afterEach, describe, expect, it, vi } from 'vitest';
import { SlabPool } from './slab.pool.js';

describe('SlabPool', () => {
  it('gives a slab back only once its producer settled it and every byte lent came back', () => {
    const pool = new SlabPool(1024, 4);
    const slab = pool.take();
    expect(slab.length).toBe(1024);
    expect(slab.buffer).toBeInstanceOf(SharedArrayBuffer);
    const a = pool.lend(slab.subarray(0, 100));
    const b = pool.lend(slab.subarray(100, 300));
    pool.settle(slab);
    expect(pool.idleCount).toBe(0);
    // a consumer may hand bytes back in pieces of its own (a paced stream splits chunks)
    SlabPool.written(a.subarray(0, 40));
    SlabPool.written(a.subarray(40));
    expect(pool.idleCount).toBe(0);
    SlabPool.written(b);
    expect(pool.idleCount).toBe(1);
    expect(pool.take().buffer).toBe(slab.buffer);
    expect(pool.allocated).toBe(1);
  });

  it('lets a slab whose bytes never come back go, and allocates another', () => {
    const pool = new SlabPool(1024, 4);
    const slab = pool.take();
    pool.lend(slab.subarray(0, 10)); // a consumer that never hands back (a copy to the spool, say)
    pool.settle(slab);
    const next = pool.take();
    expect(next.buffer).not.toBe(slab.buffer);
    expect(pool.allocated).toBe(2);
  });

  it('frees a slab that lent nothing as soon as it is settled, and keeps at most maxIdle', () => {
    const pool = new SlabPool(64, 2);
    const slabs = [pool.take(), pool.take(), pool.take()];
    for (const slab of slabs) pool.settle(slab);
    expect(pool.idleCount).toBe(2);
  });

  it('ignores bytes of no slab, and refuses what would let a slab be reused too early', () => {
    const pool = new SlabPool(64, 2);
    expect(() => SlabPool.written(Buffer.alloc(10))).not.toThrow();
    const slab = pool.take();
    const lent = pool.lend(slab.subarray(0, 8));
    expect(lent.buffer).toBe(slab.buffer);
    expect(() => new SlabPool(64, 2).lend(slab.subarray(0, 8))).toThrow(/not handed out/);
    pool.settle(slab);
    expect(() => pool.lend(slab.subarray(8, 16))).toThrow(/not handed out/);
    expect(() => pool.settle(slab)).toThrow(/not handed out/);
    expect(() => SlabPool.written(slab.subarray(0, 16))).toThrow(/more bytes/);
  });

  it('hands out at most maxTaken slabs: acquire waits for one to come back, in turn', async () => {
    const pool = new SlabPool(64, 1, 2);
    const [a, b] = [await pool.acquire(), await pool.acquire()];
    expect(() => pool.take()).toThrow(/all 2 slabs are taken/);
    const got: Buffer[] = [];
    const first = pool.acquire().then((slab) => got.push(slab));
    const second = pool.acquire().then((slab) => got.push(slab));
    await Promise.resolve();
    expect(got).toHaveLength(0);
    pool.settle(a);
    await first;
    expect(got).toEqual([a]);
    // a slab whose lent bytes have not all come back is still out
    pool.lend(got[0].subarray(0, 8));
    pool.settle(got[0]);
    pool.settle(b);
    await second;
    expect(got[1].buffer).toBe(b.buffer);
    expect(pool.allocated).toBe(2);
  });

  it('hands out aligned slabs as shared memory of their own, in whole WebAssembly pages only', () => {
    const pool = new SlabPool(128 * 1024, 2, Infinity, true);
    const [a, b] = [pool.take(), pool.take()];
    expect(a.length).toBe(128 * 1024);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteOffset).toBe(0);
    pool.settle(a);
    expect(pool.take().buffer).toBe(a.buffer);
    expect(() => new SlabPool(1024 * 1024 + 4096, 1, Infinity, true)).toThrow(RangeError);
  });

  describe('decay', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /** Takes `n` slabs and settles them all: `n` free ones (up to maxIdle). */
    const cycle = (pool: SlabPool, n: number) => {
      const slabs = Array.from({ length: n }, () => pool.take());
      for (const slab of slabs) pool.settle(slab);
      return slabs;
    };

    it('keeps up to maxIdle free while they are needed, and lets go of those unused for a whole period', () => {
      vi.useFakeTimers();
      const pool = new SlabPool(64, 16, Infinity, false, { keep: 2, afterMs: 1000 });
      cycle(pool, 10);
      expect(pool.idleCount).toBe(10);
      // a stream that keeps needing 6 at a time reuses them and allocates nothing
      for (let i = 0; i < 5; i++) {
        cycle(pool, 6);
        vi.advanceTimersByTime(400);
      }
      expect(pool.allocated).toBe(10);
      // the 4 it never needed went, a slab at a time as each had been free for a whole period; the 6 stayed
      expect(pool.idleCount).toBe(6);
      // once it stops, the free ones go back to `keep` within two periods
      vi.advanceTimersByTime(2000);
      expect(pool.idleCount).toBe(2);
      expect(vi.getTimerCount()).toBe(0);
      // and it starts again when a burst leaves more than `keep` free
      const burst = cycle(pool, 5);
      expect(pool.allocated).toBe(13);
      expect(pool.idleCount).toBe(5);
      vi.advanceTimersByTime(1000);
      expect(pool.idleCount).toBe(2);
      // the ones kept are the most recently freed, taken first
      expect(pool.take().buffer).toBe(burst[4].buffer);
    });

    it('never lets go of a slab that is taken', () => {
      vi.useFakeTimers();
      const pool = new SlabPool(64, 8, Infinity, false, { keep: 0, afterMs: 100 });
      const held = pool.take();
      const slab = pool.take();
      pool.settle(slab);
      vi.advanceTimersByTime(1000);
      expect(pool.idleCount).toBe(0);
      pool.settle(held);
      expect(pool.idleCount).toBe(1);
      expect(pool.take().buffer).toBe(held.buffer);
    });

    it('refuses to keep more than maxIdle or to decay at once', () => {
      expect(() => new SlabPool(64, 2, Infinity, false, { keep: 3, afterMs: 1000 })).toThrow(RangeError);
      expect(() => new SlabPool(64, 2, Infinity, false, { keep: 1, afterMs: 0 })).toThrow(RangeError);
    });
  });
});
