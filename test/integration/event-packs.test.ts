import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { catalogDataSourceOptions, PacksRepository, runMigrations, TenantsRepository } from '@ferry/catalog';
import { freshDatabase } from '@ferry/testing';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Which packs of events only the prune job merges (real Postgres): eight or more of one tenant and
 * one size tier, so a large merged pack is not rewritten each time small ones gather.
 */
describe('PacksRepository.eventPacks: merges by size tier', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: DataSource;
  let packs: PacksRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    await runMigrations(database.url);
    db = await new DataSource(catalogDataSourceOptions(database.url, 2)).initialize();
    packs = new PacksRepository(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  const tenant = async () => {
    const id = randomUUID();
    await new TenantsRepository(db).create(
      { id, name: `ev-${id.slice(0, 8)}`, quotaBytes: 2 ** 40, container: `ferry-${id}`, leaseExpiresAt: null },
      { accessKeyId: `AK${randomBytes(8).toString('hex').toUpperCase()}`, secretSealed: randomBytes(40), masterKeyId: 'k1', description: null },
    );
    return id;
  };
  /** Stored packs of events only, of these sizes, made a minute ago. */
  const eventPacks = async (tenantId: string, sizes: number[]) => {
    const ids: string[] = [];
    for (const size of sizes) {
      const id = randomUUID();
      await packs.beginPack(tenantId, { id, keyNumber: 1, size, chunkCount: 0, eventCount: 3 });
      await db.query(`UPDATE packs SET state = 'stored', created_at = now() - interval '1 minute' WHERE id = $1`, [id]);
      ids.push(id);
    }
    return ids;
  };
  const groups = async (tenantIds: string[]) =>
    (await packs.eventPacks(8, 1000))
      .filter((group) => tenantIds.includes(group.tenantId))
      .map((group) => ({ tenantId: group.tenantId, ids: group.packs.map((pack) => pack.id).sort() }));

  it('merges eight small packs and leaves a large one alone, then merges large ones once eight gather', async () => {
    const a = await tenant();
    const small = await eventPacks(a, [100 * KiB, 10 * KiB, 1, 300 * KiB, 2 * MiB - 1, 50 * KiB, 64 * KiB, 900 * KiB]);
    const [large] = await eventPacks(a, [3 * MiB]);
    expect(await groups([a])).toEqual([{ tenantId: a, ids: [...small].sort() }]);
    const moreLarge = await eventPacks(a, [2 * MiB, 4 * MiB, 5 * MiB, 6 * MiB, 7 * MiB, 8 * MiB, 16 * MiB - 1]);
    expect(await groups([a])).toEqual([
      { tenantId: a, ids: [...small].sort() },
      { tenantId: a, ids: [large, ...moreLarge].sort() },
    ]);
  });

  it('needs eight of one tenant and one tier, leaves out young packs, and never mixes tenants', async () => {
    const [b, c] = [await tenant(), await tenant()];
    await eventPacks(b, [KiB, KiB, KiB, KiB, KiB, KiB, KiB]);
    await eventPacks(c, [KiB, KiB, KiB, KiB]);
    expect(await groups([b, c])).toEqual([]);
    // an eighth, made just now: too young to merge (the grace period)
    const [young] = await eventPacks(b, [KiB]);
    await db.query(`UPDATE packs SET created_at = now() WHERE id = $1`, [young]);
    expect(await groups([b, c])).toEqual([]);
    await eventPacks(b, [KiB]);
    const [group] = await groups([b, c]);
    expect(group.tenantId).toBe(b);
    expect(group.ids).toHaveLength(8);
    expect(group.ids).not.toContain(young);
  });
});
