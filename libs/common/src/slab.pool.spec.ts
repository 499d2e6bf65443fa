import { describe, expect, it } from 'vitest';
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
});
