import { randomBytes } from 'node:crypto';
import { readdir, readlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { ObjectsRepository } from '@ferry/catalog';
import { ReadSlabs } from '../../apps/gateway/src/read/read.slabs.js';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * The gateway reuses its read buffers (ReadSlabs): a slab goes back to its pool once the socket has
 * taken its bytes, and is filled again by the next read. Many concurrent GETs and ranged GETs of
 * objects of many sizes, from the spool and from packs, must each get exactly their own bytes, and a
 * client that goes away mid-body must not hand a slab back early. Real Postgres, Redis and Azurite.
 */
describe('read slabs: reused buffers never mix the bytes of concurrent reads', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;
  let alice: TenantSession;
  const objects = new Map<string, Buffer>();
  const sizes = [1, 100 * KiB, 700 * KiB, MiB, 1536 * KiB, 3 * MiB, 5 * MiB + 17, 9 * MiB, 12 * MiB + 5];

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({ env: { FERRY_PACK_LINGER_MS: '50' } });
    db = await new DataSource({ type: 'postgres', url: ferry.config.databaseUrl.reveal() }).initialize();
    alice = await ferry.tenant('alice');
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'data' }));
    // compressible and random objects, so frames and plaintexts differ in size
    for (const [i, size] of sizes.entries()) {
      for (const kind of ['text', 'random'] as const) {
        const body = kind === 'random' ? randomBytes(size) : Buffer.from(`${kind} ${i} `.repeat(Math.ceil(size / 8)).slice(0, size));
        objects.set(`${kind}-${i}.bin`, body);
        await alice.s3.send(new PutObjectCommand({ Bucket: 'data', Key: `${kind}-${i}.bin`, Body: body }));
      }
    }
    const stored = async () => {
      const [{ staged }] = (await db.query(`SELECT count(*)::int AS staged FROM objects WHERE tenant_id = $1 AND state <> 'stored'`, [alice.id])) as { staged: number }[];
      return staged === 0;
    };
    expect(await eventually(stored, 120_000)).toBe(true);
  }, 180_000);
  afterAll(async () => {
    await db?.destroy();
    await ferry?.stop();
  });

  const get = async (key: string, range?: string): Promise<Buffer> => {
    const response = await alice.s3.send(new GetObjectCommand({ Bucket: 'data', Key: key, Range: range }));
    return Buffer.from(await response.Body!.transformToByteArray());
  };

  /** Every object whole, and two ranges of each, 16 at a time, each compared with its own bytes. */
  const readAll = async () => {
    const reads: (() => Promise<void>)[] = [];
    for (const [key, body] of objects) {
      reads.push(async () => expect((await get(key)).equals(body)).toBe(true));
      if (body.length < 2) continue;
      const start = Math.floor(body.length / 3);
      const end = Math.min(body.length - 1, start + Math.floor(body.length / 2));
      reads.push(async () => expect((await get(key, `bytes=${start}-${end}`)).equals(body.subarray(start, end + 1))).toBe(true));
      reads.push(async () => expect((await get(key, `bytes=-${Math.min(body.length, 300 * KiB)}`)).equals(body.subarray(-Math.min(body.length, 300 * KiB)))).toBe(true));
    }
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < reads.length) await reads[next++]();
    }));
  };

  /** Starts a GET and drops the connection after its first bytes. */
  const abandon = async (key: string) => {
    const response = await alice.s3.send(new GetObjectCommand({ Bucket: 'data', Key: key }));
    const body = response.Body as Readable;
    await new Promise((resolve) => body.once('data', resolve));
    body.destroy();
  };

  it('serves every read its own bytes from the spool, taking the same slabs again and again', async () => {
    const slabs = ferry.gateway.app.get(ReadSlabs);
    const before = slabs.small.allocated;
    await readAll();
    await readAll();
    // a few hundred 1 MiB file reads in all, in a handful of slabs: they were handed back and reused
    expect(slabs.small.allocated - before).toBeLessThanOrEqual(40);
    expect(slabs.small.idleCount).toBeGreaterThan(0);
  });

  it('closes the spool files of a GET whose client went away mid-body', async () => {
    // the gateway runs in this process: its open files are ours
    const openSpoolFiles = async () => {
      const links = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
      return links.filter((target) => target.startsWith(ferry.config.spoolDir)).length;
    };
    expect(await openSpoolFiles()).toBe(0);
    // objects of several 1 MiB reads each, dropped after their first bytes
    await Promise.all([abandon('random-7.bin'), abandon('text-8.bin'), abandon('random-8.bin')]);
    expect(await eventually(async () => (await openSpoolFiles()) === 0, 10_000)).toBe(true);
    await readAll();
  });

  it('serves every read its own bytes from the packs, and a client that goes away takes nothing with it', async () => {
    const objectsRepo = ferry.worker!.get(ObjectsRepository);
    const rows = (await db.query(`SELECT id FROM objects WHERE tenant_id = $1`, [alice.id])) as { id: string }[];
    for (const { id } of rows) await objectsRepo.dropSpool(alice.id, id);
    const slabs = ferry.gateway.app.get(ReadSlabs);
    await Promise.all([abandon('random-7.bin'), abandon('text-8.bin'), abandon('random-8.bin')]);
    await readAll();
    const allocated = slabs.large.allocated + slabs.small.allocated;
    await readAll();
    await Promise.all([abandon('random-8.bin'), readAll()]);
    // The second and third rounds found the slabs of the first free again (the read-ahead cache
    // holds some). Not always none: the third round's peak may exceed the first's, and by how much
    // depends on timing (1 to 6 were seen; 7 to 17 when the large pool kept only 8 free). A slab
    // that never came back would cost one per read: well over a hundred here.
    expect(slabs.large.allocated + slabs.small.allocated - allocated).toBeLessThanOrEqual(32);
    expect(slabs.large.idleCount + slabs.small.idleCount).toBeGreaterThan(0);
  });
});
