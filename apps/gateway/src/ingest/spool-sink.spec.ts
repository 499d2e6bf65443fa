import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HashPool } from '@ferry/s3';
import { Spool } from '@ferry/storage';
import { BodyDigests } from './body-digests.js';
import { drainToSpool } from './spool-sink.js';

const MiB = 1024 * 1024;
// lengths around the 4 KiB alignment O_DIRECT needs and the 1 MiB buffers the sink fills
const LENGTHS = [0, 1, 4095, 4096, 4097, MiB - 1, MiB, MiB + 1, 3 * MiB + 12_345];

async function* inPieces(data: Buffer): AsyncIterable<Buffer> {
  for (let offset = 0; offset < data.length; ) {
    const size = 1 + Math.floor(Math.random() * 200_000);
    yield data.subarray(offset, offset + size);
    offset += size;
  }
}

/** O_DIRECT is bit 040000 of the flags /proc reports for an open file (x86-64, arm64 differs). */
async function openedDirect(fd: number): Promise<boolean> {
  const info = await readFile(`/proc/self/fdinfo/${fd}`, 'utf8');
  const flags = parseInt(/flags:\s+(\d+)/.exec(info)![1], 8);
  return (flags & 0o40000) !== 0;
}

describe('drainToSpool', () => {
  const pool = new HashPool(1);
  const dirs: string[] = [];
  afterAll(async () => {
    await pool.close();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  for (const preferDirect of [true, false]) {
    it(`stores every length byte for byte with its MD5 (${preferDirect ? 'O_DIRECT where the filesystem takes it' : 'page cache'})`, async () => {
      const root = await mkdtemp(join(tmpdir(), 'ferry-sink-'));
      dirs.push(root);
      const spool = new Spool(root);
      for (const length of LENGTHS) {
        const data = randomBytes(length);
        const path = spool.newPath('tenant');
        const file = await spool.openForWrite(path, preferDirect);
        expect(file.direct).toBe(preferDirect && (await spool.supportsDirectIo()));
        expect(await openedDirect(file.handle.fd)).toBe(file.direct);
        const digests = new BodyDigests(pool, ['MD5', 'CRC32']);
        try {
          expect(await drainToSpool(inPieces(data), file, digests, { declared: length, max: 16 * MiB })).toBe(length);
          await file.handle.sync();
        } finally {
          await file.handle.close();
        }
        const stored = await readFile(spool.absolute(path));
        expect(stored.length).toBe(length);
        expect(stored.equals(data)).toBe(true);
        const md5 = (await digests.result()).get('MD5')!;
        expect(md5.toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
      }
    });
  }

  it('stops at the first byte past the declared length and gives its buffers back', async () => {
    const root = await mkdtemp(join(tmpdir(), 'ferry-sink-'));
    dirs.push(root);
    const spool = new Spool(root);
    const file = await spool.openForWrite(spool.newPath('tenant'), true);
    const digests = new BodyDigests(pool, ['MD5']);
    try {
      await expect(drainToSpool(inPieces(randomBytes(2 * MiB)), file, digests, { declared: MiB, max: 16 * MiB })).rejects.toMatchObject({
        code: 'BodyTooLong',
      });
    } finally {
      digests.abandon();
      await file.handle.close();
    }
    // every buffer is back: the pool can still hand out its whole capacity without waiting
    const held = await Promise.all(Array.from({ length: 256 }, () => pool.takeBuffer()));
    for (const buffer of held) pool.releaseBuffer(buffer);
  });
});
