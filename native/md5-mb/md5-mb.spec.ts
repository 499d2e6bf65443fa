import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import * as md5mb from 'ferry-md5-mb';

const md5 = (data: Uint8Array) => createHash('md5').update(data).digest();
const order = ['scalar', 'avx2', 'avx512'] as const;
const runnable = order.slice(0, order.indexOf(md5mb.best()) + 1);

describe('multi-buffer MD5 (native)', () => {
  afterEach(() => md5mb.force('auto'));

  it('runs the best implementation this CPU has', () => {
    expect(md5mb.implementation()).toBe(md5mb.best());
    // every x86-64 server of the last decade has AVX2; on one, the vector paths below must run
    if (process.arch === 'x64') expect(['avx2', 'avx512']).toContain(md5mb.best());
  });

  for (const impl of runnable) {
    it(`${impl}: matches node:crypto for many streams of every length, fed in uneven pieces`, () => {
      md5mb.force(impl);
      const batcher = new md5mb.Md5Batcher();
      // 0..200 bytes cover every padding case; larger ones cross many blocks and the lanes' limits
      const sizes = [...Array.from({ length: 201 }, (_, i) => i), 1024 * 1024, 1024 * 1024 + 7, 3 * 65536 - 1, 5 * 64, 999_999];
      const bodies = sizes.map((size) => randomBytes(size));
      const streams = bodies.map(() => batcher.stream());
      let done = 0;
      let queued = 0;
      // feed each body in pieces of varied sizes, flushing now and then, as a hash worker does
      const cursors = bodies.map(() => 0);
      for (let round = 0; cursors.some((cursor, i) => cursor < bodies[i].length); round++) {
        bodies.forEach((body, i) => {
          if (cursors[i] >= body.length) return;
          const piece = [64, 1, 65536, 63, 4096 + 17, 1024 * 1024][(round + i) % 6];
          const end = Math.min(body.length, cursors[i] + piece);
          batcher.enqueue(streams[i], body.subarray(cursors[i], end), () => done++);
          queued++;
          cursors[i] = end;
        });
        if (round % 3 === 2) batcher.flush();
      }
      const digests = streams.map((stream) => batcher.digest(stream));
      expect(done).toBe(queued);
      digests.forEach((digest, i) => expect(digest.toString('hex'), `size ${sizes[i]}`).toBe(md5(bodies[i]).toString('hex')));
    });

    it(`${impl}: hashes lanes that share one SharedArrayBuffer, as the gateway's buffer slab does`, () => {
      md5mb.force(impl);
      const shared = new Uint8Array(new SharedArrayBuffer(20 * 65536));
      shared.set(randomBytes(shared.length));
      const batcher = new md5mb.Md5Batcher();
      const streams = Array.from({ length: 20 }, () => batcher.stream());
      streams.forEach((stream, i) => batcher.enqueue(stream, shared.subarray(i * 65536, (i + 1) * 65536), () => undefined));
      streams.forEach((stream, i) => expect(batcher.digest(stream).equals(md5(shared.subarray(i * 65536, (i + 1) * 65536)))).toBe(true));
    });
  }

  it('refuses ranges past the end of the data, wrong types and a digested stream, without crashing', () => {
    const state = new Uint32Array(4);
    expect(() => md5mb.lanes(state, new Uint8Array(100), Uint32Array.of(40), 1, 1)).toThrow(RangeError);
    expect(() => md5mb.lanes(state, new Uint8Array(100), Uint32Array.of(0), 2, 1)).toThrow(RangeError);
    expect(() => md5mb.lanes(new Uint32Array(4), new Uint8Array(64), Uint32Array.of(0), 1, -1)).toThrow(RangeError);
    expect(() => md5mb.lanes(state, Buffer.alloc(64) as unknown as Uint8Array, new Uint16Array(1) as unknown as Uint32Array, 1, 1)).toThrow(RangeError);
    expect(() => md5mb.force('avx1024' as never)).toThrow(RangeError);
    const batcher = new md5mb.Md5Batcher();
    const stream = batcher.stream();
    batcher.digest(stream);
    expect(() => batcher.enqueue(stream, new Uint8Array(1), () => undefined)).toThrow(/digested/);
  });
});
