import { randomBytes } from 'node:crypto';
import { closeSync, constants, existsSync, openSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIRECT_ALIGNMENT, SpoolFiles, type SpoolPiece } from './spool-files.js';

/**
 * Whether the file's filesystem opens it with O_DIRECT, asked directly rather than through the code
 * under test (tmpfs does since Linux 6.6; before, it refused, as some overlay and network filesystems do).
 */
function takesDirect(path: string): boolean {
  try {
    closeSync(openSync(path, constants.O_RDONLY | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  }
}

// an object split as a multipart upload might leave it: sizes off every alignment, one under a block, one empty
const SIZES = [DIRECT_ALIGNMENT * 3 + 17, 1000, 0, 5 * 1024 * 1024 + 4095, DIRECT_ALIGNMENT, 70_001];

async function spoolIn(dir: string, object: Buffer): Promise<SpoolPiece[]> {
  const pieces: SpoolPiece[] = [];
  let at = 0;
  for (const [i, size] of SIZES.entries()) {
    const path = join(dir, `piece-${i}`);
    await writeFile(path, object.subarray(at, at + size));
    pieces.push({ path, size });
    at += size;
  }
  return pieces;
}

const places = [process.env.TMPDIR ?? tmpdir(), '/dev/shm'].filter((dir) => existsSync(dir));

describe.each(places)('SpoolFiles in %s', (parent) => {
  const object = randomBytes(SIZES.reduce((sum, size) => sum + size, 0));
  let dir: string;
  let pieces: SpoolPiece[];
  beforeAll(async () => {
    dir = await mkdtemp(join(parent, 'ferry-spool-files-'));
    pieces = await spoolIn(dir, object);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('opens with O_DIRECT exactly where the filesystem takes it, and never when not asked to', () => {
    const expected = takesDirect(pieces[0].path);
    SpoolFiles.with(pieces, true, (files) => expect(files.direct).toEqual(pieces.map(() => expected)));
    SpoolFiles.with(pieces, false, (files) => expect(files.direct).toEqual(pieces.map(() => false)));
  });

  it.each([true, false])('reads any span of the object, within a file or across several (direct: %s)', (direct) => {
    const spans: [number, number][] = [
      [0, object.length],
      [0, 1],
      [object.length - 1, 1],
      [5, DIRECT_ALIGNMENT],
      [DIRECT_ALIGNMENT * 3, 1017],
      [DIRECT_ALIGNMENT * 3 + 16, 1002],
      [SIZES[0] + SIZES[1] - 1, 2],
      [SIZES[0] + 999, 4 * 1024 * 1024],
      [object.length - 70_001 - 3, 70_004],
      [123, 0],
    ];
    for (let n = 0; n < 200; n++) {
      const offset = randomBytes(4).readUInt32LE() % object.length;
      spans.push([offset, randomBytes(4).readUInt32LE() % Math.min(object.length - offset + 1, 300_000)]);
    }
    SpoolFiles.with(pieces, direct, (files) => {
      for (const [offset, length] of spans) {
        const into = Buffer.alloc(length);
        expect(files.objectBytesInto(offset, into)).toBe(into);
        expect(into.equals(object.subarray(offset, offset + length)), `${length} bytes at ${offset}`).toBe(true);
      }
      expect(files.pieceBytes(3, 4095, 5).equals(object.subarray(SIZES[0] + SIZES[1] + 4095, SIZES[0] + SIZES[1] + 4100))).toBe(true);
      expect(() => files.pieceBytes(1, 999, 2)).toThrow(RangeError);
      expect(() => files.objectBytesInto(object.length - 1, Buffer.alloc(2))).toThrow(/end before byte/);
    });
  });

  it.each([true, false])('reads spans ahead, each left intact while the next one lands (direct: %s)', async (direct) => {
    const spans = [
      { offset: 0, length: SIZES[0] },
      { offset: 7, length: 5 * 1024 * 1024 },
      { offset: SIZES[0] - 3, length: 1010 },
      { offset: 0, length: 0 },
      { offset: object.length - 70_001, length: 70_001 },
      { offset: SIZES[0] + SIZES[1], length: 4 * 1024 * 1024 },
      { offset: 1, length: 1 },
    ];
    const read = await SpoolFiles.withAsync(pieces, direct, async (files) => {
      let i = 0;
      for await (const bytes of files.ahead(spans)) {
        // the next span's read is under way: give it time to land, then look at this one again
        await new Promise((resolve) => setTimeout(resolve, 20));
        const { offset, length } = spans[i++];
        expect(bytes.equals(object.subarray(offset, offset + length)), `${length} bytes at ${offset}`).toBe(true);
      }
      return i;
    });
    expect(read).toBe(spans.length);
  });

  it('waits for a read still under way before closing the files when the reader stops early, and reports a read that fails', async () => {
    const before = openFds();
    const first = await SpoolFiles.withAsync(pieces, true, async (files) => {
      for await (const bytes of files.ahead([{ offset: 0, length: 10 }, { offset: 0, length: 5 * 1024 * 1024 }])) return Buffer.from(bytes);
    });
    expect(first!.equals(object.subarray(0, 10))).toBe(true);
    expect(openFds()).toBe(before);
    const short = await spoolIn(await mkdtemp(join(dir, 'short-ahead-')), object);
    await truncate(short[3].path, SIZES[3] - 5000);
    const reading = SpoolFiles.withAsync(short, true, async (files) => {
      for await (const bytes of files.ahead([{ offset: 0, length: 100 }, { offset: SIZES[0] + SIZES[1], length: SIZES[3] }])) expect(bytes.length).toBe(100);
    });
    await expect(reading).rejects.toThrow(/spool file ended/);
    expect(openFds()).toBe(before);
  });

  it.each([true, false])('fails, rather than returning short or stale bytes, when a file is shorter than recorded (direct: %s)', async (direct) => {
    const short = await spoolIn(await mkdtemp(join(dir, 'short-')), object);
    await truncate(short[3].path, SIZES[3] - 5000);
    SpoolFiles.with(short, direct, (files) => {
      expect(files.objectBytesInto(0, Buffer.alloc(SIZES[0])).equals(object.subarray(0, SIZES[0]))).toBe(true);
      expect(() => files.pieceBytes(3, SIZES[3] - 6000, 2000)).toThrow(/spool file ended/);
      expect(() => files.pieceBytes(3, SIZES[3] - 100, 100)).toThrow(/spool file ended/);
    });
  });

  it('closes every file it opened, also when the work throws', () => {
    const before = openFds();
    expect(() =>
      SpoolFiles.with(pieces, true, () => {
        throw new Error('work failed');
      }),
    ).toThrow('work failed');
    expect(() => SpoolFiles.with([...pieces, { path: join(dir, 'missing'), size: 1 }], true, () => 0)).toThrow(/ENOENT/);
    expect(openFds()).toBe(before);
  });
});

/** Descriptors this process has open now. */
const openFds = (): number => readdirSync('/proc/self/fd').length;
