import { describe, expect, it } from 'vitest';
import { BufferSlab } from './buffer-slab.js';

describe('BufferSlab', () => {
  it('hands out distinct page-aligned views of one shared memory, growing a buffer at a time', async () => {
    const slab = new BufferSlab(128 * 1024, 4);
    const indexes = [await slab.take(), await slab.take(), await slab.take()];
    expect(new Set(indexes).size).toBe(3);
    expect(slab.allocated).toBe(3);
    for (const index of indexes) {
      const view = slab.view(index);
      expect(view.byteLength).toBe(128 * 1024);
      expect(view.byteOffset % 4096).toBe(0);
      expect(view.buffer).toBeInstanceOf(SharedArrayBuffer);
      expect(slab.indexOf(view)).toBe(index);
    }
    slab.view(indexes[0]).fill(1);
    slab.view(indexes[1]).fill(2);
    expect(slab.view(indexes[0]).every((byte) => byte === 1)).toBe(true);
    expect(slab.indexOf(Buffer.alloc(128 * 1024))).toBeUndefined();
  });

  it('reuses released buffers and makes takers wait past its capacity, first come first served', async () => {
    const slab = new BufferSlab(64 * 1024, 2);
    const first = await slab.take();
    const second = await slab.take();
    const order: number[] = [];
    const third = slab.take().then((index) => (order.push(3), index));
    const fourth = slab.take().then((index) => (order.push(4), index));
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual([]);
    slab.release(second);
    expect(await third).toBe(second);
    slab.release(first);
    expect(await fourth).toBe(first);
    expect(order).toEqual([3, 4]);
    expect(slab.allocated).toBe(2);
  });
});
