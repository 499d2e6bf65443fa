import type { EventEmitter } from 'node:events';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlabPool } from '@ferry/common';
import { FILE_READ_BYTES, readFileRange } from './file-range.js';
import { Spool } from './spool.js';

describe('readFileRange', () => {
  let dir: string;
  let path: string;
  const data = randomBytes(3 * 1024 * 1024 + 123);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-range-'));
    path = join(dir, 'file');
    await writeFile(path, data);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const collect = async (source: AsyncIterable<Buffer>) => {
    const parts: Buffer[] = [];
    for await (const part of source) parts.push(part);
    return Buffer.concat(parts);
  };

  it('reads exact ranges, many at once from one handle, without listeners piling up on it', async () => {
    const handle = await open(path, 'r');
    try {
      const ranges = [[0, data.length], [5, 1], [1024 * 1024 - 1, 2 * 1024 * 1024 + 7], [data.length - 10, 10], [17, 0]] as const;
      const read = await Promise.all(Array.from({ length: 40 }, (_, i) => ranges[i % ranges.length]).map(([start, length]) => collect(readFileRange(handle, start, length))));
      read.forEach((bytes, i) => {
        const [start, length] = ranges[i % ranges.length];
        expect(bytes.equals(data.subarray(start, start + length))).toBe(true);
      });
      expect((handle as unknown as EventEmitter).listenerCount('close')).toBe(0);
    } finally {
      await handle.close();
    }
  });

  it('fails rather than return a short range when the file is shorter than asked', async () => {
    const handle = await open(path, 'r');
    try {
      await expect(collect(readFileRange(handle, data.length - 5, 10))).rejects.toThrow(/ended at byte/);
    } finally {
      await handle.close();
    }
  });

  describe('with O_DIRECT', () => {
    const spool = () => new Spool(dir);
    const ranges = [[0, data.length], [5, 1], [4095, 2], [4096, 4096], [FILE_READ_BYTES - 1, FILE_READ_BYTES + 2], [data.length - 10, 10], [data.length - 4096 - 7, 4096 + 7], [17, 0]] as const;

    it('reads exact ranges, from unaligned starts to the unaligned end of the file, into aligned slabs', async () => {
      const { handle, direct } = await spool().openForRead('file', true);
      // whether the filesystem takes O_DIRECT is the spool's own probe; on this project's machines it does
      expect(direct).toBe(await spool().supportsDirectIo());
      const slabs = new SlabPool(FILE_READ_BYTES, 4, Infinity, true);
      try {
        const read = await Promise.all(ranges.map(([start, length]) => collect(readFileRange(handle, start, length, slabs, direct))));
        read.forEach((bytes, i) => {
          const [start, length] = ranges[i];
          expect(bytes.equals(data.subarray(start, start + length)), `${length} bytes at ${start}`).toBe(true);
        });
        await expect(collect(readFileRange(handle, data.length - 5, 10, slabs, direct))).rejects.toThrow(/ended at byte/);
        await expect(collect(readFileRange(handle, data.length + 4096, 1, slabs, direct))).rejects.toThrow(/ended at byte/);
      } finally {
        await handle.close();
      }
    });

    it('refuses slabs that are not aligned, before reading anything', async () => {
      const { handle } = await spool().openForRead('file', true);
      try {
        await expect(collect(readFileRange(handle, 0, 10, new SlabPool(FILE_READ_BYTES, 1), true))).rejects.toThrow(/aligned slabs/);
        await expect(collect(readFileRange(handle, 0, 10, undefined, true))).rejects.toThrow(/aligned slabs/);
      } finally {
        await handle.close();
      }
    });
  });
});
