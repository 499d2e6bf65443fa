import { randomBytes } from 'node:crypto';
import { rm, writeFile, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { ChunksRepository, ObjectsRepository, type SpoolSegment } from '@ferry/catalog';
import { Spool } from '@ferry/storage';
import { PackFetcher } from '../../apps/gateway/src/read/pack.fetcher.js';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';

const MiB = 1024 * 1024;

/**
 * The chunk-level recovery cache: an object read from packs takes the chunks that an object still
 * in the spool holds from that object's spool files, checked against the chunk ids, and fetches
 * only the rest. Real Postgres, Redis and Azurite; Blob reads counted at the gateway's PackFetcher.
 */
describe('chunk-level cache: chunks read from another object’s spool files', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;
  let alice: TenantSession;
  let bob: TenantSession;
  /** Every ranged read of a pack the gateway made: its length. */
  const fetched: number[] = [];
  const a = randomBytes(5 * MiB);
  const b = Buffer.concat([a, randomBytes(2 * MiB)]);

  const row = async (tenant: TenantSession, key: string) => {
    const [found] = (await db.query(`SELECT id, spool, state FROM objects WHERE tenant_id = $1 AND key = $2`, [tenant.id, key])) as {
      id: string;
      spool: SpoolSegment[] | null;
      state: string;
    }[];
    return found;
  };
  const get = async (tenant: TenantSession, key: string): Promise<Buffer> => {
    const response = await tenant.s3.send(new GetObjectCommand({ Bucket: 'data', Key: key }));
    return Buffer.from(await response.Body!.transformToByteArray());
  };
  const stored = async (tenant: TenantSession, key: string) => {
    expect(await eventually(async () => (await row(tenant, key))?.state === 'stored', 60_000)).toBe(true);
  };
  /** As the cache eviction does for one object: its spool files are no longer the object's. */
  const evict = async (tenant: TenantSession, key: string) => {
    const { id } = await row(tenant, key);
    expect(await ferry.worker!.get(ObjectsRepository).dropSpool(tenant.id, id)).toBe(true);
  };

  beforeAll(async () => {
    // read-ahead off: every fetch is exactly the frames a read needs, so they can be counted
    ferry = await FerryUnderTest.start({ env: { FERRY_PACK_LINGER_MS: '50', FERRY_READ_AHEAD_BYTES: '0' } });
    db = await new DataSource({ type: 'postgres', url: ferry.config.databaseUrl.reveal() }).initialize();
    const fetcher = ferry.gateway.app.get(PackFetcher);
    const read = fetcher.read.bind(fetcher);
    fetcher.read = async (container, packId, packSize, start, length, reach) => {
      fetched.push(length);
      return read(container, packId, packSize, start, length, reach);
    };
    alice = await ferry.tenant('alice');
    bob = await ferry.tenant('bob');
    for (const tenant of [alice, bob]) await tenant.s3.send(new CreateBucketCommand({ Bucket: 'data' }));
  }, 60_000);
  afterAll(async () => {
    await db?.destroy();
    await ferry?.stop();
  });

  it('reads the chunks a cached object holds from its spool files, and fetches only the others', async () => {
    // b.bin first, a.bin (its first 5 MiB) later; the cache evicts the older b.bin first
    await alice.s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'b.bin', Body: b }));
    await stored(alice, 'b.bin');
    await alice.s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'a.bin', Body: a }));
    await stored(alice, 'a.bin');
    await evict(alice, 'b.bin');

    const objectA = await row(alice, 'a.bin');
    const manifest = await ferry.gateway.app.get(ChunksRepository).manifest(alice.id, (await row(alice, 'b.bin')).id);
    const cached = manifest.filter((entry) => entry.cached);
    // b.bin begins with a.bin's bytes: all but the chunk cut at a.bin's end are chunks a.bin brought
    // last, and a.bin is still in the spool
    expect(cached.length).toBeGreaterThanOrEqual(2);
    expect(cached.length).toBeLessThan(manifest.length);
    for (const entry of cached) expect(entry.cached!.spool).toEqual(objectA.spool);

    fetched.length = 0;
    expect((await get(alice, 'b.bin')).equals(b)).toBe(true);
    const uncachedFrames = manifest.filter((entry) => !entry.cached).reduce((sum, entry) => sum + entry.frameLength, 0);
    expect(fetched.reduce((sum, length) => sum + length, 0)).toBe(uncachedFrames);

    // a range inside the cached part touches no pack at all
    fetched.length = 0;
    const ranged = await alice.s3.send(new GetObjectCommand({ Bucket: 'data', Key: 'b.bin', Range: 'bytes=1000-2099999' }));
    expect(Buffer.from(await ranged.Body!.transformToByteArray()).equals(b.subarray(1000, 2_100_000))).toBe(true);
    expect(fetched).toEqual([]);
  });

  it('fetches from the pack when the cached bytes are damaged or gone, never returning them', async () => {
    const objectA = await row(alice, 'a.bin');
    expect(objectA.spool).toHaveLength(1);
    const manifest = await ferry.gateway.app.get(ChunksRepository).manifest(alice.id, (await row(alice, 'b.bin')).id);
    const frames = (entries: typeof manifest) => entries.reduce((sum, entry) => sum + entry.frameLength, 0);
    const file = ferry.gateway.app.get(Spool).absolute(objectA.spool![0].path);
    const original = await readFile(file);
    const at = 1_500_000;
    const damaged = Buffer.from(original);
    damaged[at] ^= 0xff;
    await writeFile(file, damaged);
    // the chunk holding the damaged byte comes from its pack; the other cached chunks still do not
    const hit = manifest.filter((entry) => entry.cached && entry.cached.at <= at && at < entry.cached.at + entry.plainLength);
    expect(hit).toHaveLength(1);
    fetched.length = 0;
    expect((await get(alice, 'b.bin')).equals(b)).toBe(true);
    expect(fetched.reduce((sum, length) => sum + length, 0)).toBe(frames(manifest.filter((entry) => !entry.cached)) + frames(hit));

    await rm(file);
    fetched.length = 0;
    expect((await get(alice, 'b.bin')).equals(b)).toBe(true);
    expect(fetched.reduce((sum, length) => sum + length, 0)).toBe(frames(manifest));
    await writeFile(file, original);
  });

  it('uses another tenant’s spool files never: the same bytes are other chunks there', async () => {
    await bob.s3.send(new PutObjectCommand({ Bucket: 'data', Key: 'b.bin', Body: b }));
    await stored(bob, 'b.bin');
    await evict(bob, 'b.bin');
    const manifest = await ferry.gateway.app.get(ChunksRepository).manifest(bob.id, (await row(bob, 'b.bin')).id);
    // bob's own object was the only one to bring these chunks, and its spool is dropped
    expect(manifest.filter((entry) => entry.cached)).toEqual([]);
    fetched.length = 0;
    expect((await get(bob, 'b.bin')).equals(b)).toBe(true);
    expect(fetched.reduce((sum, length) => sum + length, 0)).toBe(manifest.reduce((sum, entry) => sum + entry.frameLength, 0));
  });
});
