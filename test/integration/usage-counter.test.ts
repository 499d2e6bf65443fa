import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import { BucketsRepository, catalogDataSourceOptions, ObjectsRepository, runMigrations, TenantsRepository } from '@ferry/catalog';
import { freshDatabase, newObjectVersion } from '@ferry/testing';

/**
 * The per-tenant usage counter (`tenant_usage`, kept by triggers) against real Postgres: exact after
 * every kind of change to object rows, and only the changing tenant's counter moves.
 */
describe('tenant usage counter (real Postgres)', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: DataSource;
  let objects: ObjectsRepository;

  beforeAll(async () => {
    database = await freshDatabase();
    await runMigrations(database.url);
    db = await new DataSource(catalogDataSourceOptions(database.url, 2)).initialize();
    objects = new ObjectsRepository(db);
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  async function tenantWithBucket(): Promise<{ tenantId: string; bucketId: string }> {
    const tenantId = randomUUID();
    await new TenantsRepository(db).create(
      { id: tenantId, name: `usage-${tenantId.slice(0, 8)}`, quotaBytes: 2 ** 40, container: `ferry-${tenantId}`, leaseExpiresAt: null },
      { accessKeyId: `AK${randomBytes(8).toString('hex').toUpperCase()}`, secretSealed: randomBytes(40), masterKeyId: 'k1', description: null },
    );
    const bucket = await new BucketsRepository(db).create(tenantId, 'usage');
    return { tenantId, bucketId: bucket.id };
  }

  async function usage(tenantId: string): Promise<{ keptBytes: number; objects: number }> {
    const [row] = (await db.query(`SELECT kept_bytes, objects FROM tenant_usage WHERE tenant_id = $1`, [tenantId])) as { kept_bytes: string; objects: string }[];
    return { keptBytes: Number(row.kept_bytes), objects: Number(row.objects) };
  }

  /** What the counter must equal: the rows themselves, summed. */
  async function counted(tenantId: string): Promise<{ keptBytes: number; objects: number }> {
    const [row] = (await db.query(
      `SELECT coalesce(sum(size), 0) AS kept, count(*) AS n FROM objects WHERE tenant_id = $1 AND NOT is_delete_marker`,
      [tenantId],
    )) as { kept: string; n: string }[];
    return { keptBytes: Number(row.kept), objects: Number(row.n) };
  }

  it('follows inserts, overwrites, updates of every counted column and deletes, for its own tenant only', async () => {
    const a = await tenantWithBucket();
    const b = await tenantWithBucket();
    await objects.putNullVersion(b.tenantId, b.bucketId, `ferry-${b.tenantId}`, newObjectVersion('other', 77));
    const bBefore = await usage(b.tenantId);
    expect(bBefore).toEqual({ keptBytes: 77, objects: 1 });

    const first = newObjectVersion('k1', 1000);
    await objects.putNullVersion(a.tenantId, a.bucketId, `ferry-${a.tenantId}`, first);
    await objects.putNullVersion(a.tenantId, a.bucketId, `ferry-${a.tenantId}`, newObjectVersion('k2', 300));
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 1300, objects: 2 });

    // updates of other columns (stored by the worker, cache dropped, and any other) count nothing
    await db.query(`UPDATE objects SET state = 'stored', packed = true, stored_at = now() WHERE tenant_id = $1`, [a.tenantId]);
    await db.query(`UPDATE objects SET spool = NULL, is_latest = false WHERE tenant_id = $1 AND id = $2`, [a.tenantId, first.id]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 1300, objects: 2 });

    // an overwrite of the same key replaces what it counts
    await objects.putNullVersion(a.tenantId, a.bucketId, `ferry-${a.tenantId}`, newObjectVersion('k2', 50));
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 1050, objects: 2 });

    // every counted column, alone and together, on one row and on several in one statement
    await db.query(`UPDATE objects SET size = size + 10 WHERE tenant_id = $1 AND id = $2`, [a.tenantId, first.id]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 1060, objects: 2 });
    await db.query(`UPDATE objects SET is_delete_marker = true WHERE tenant_id = $1 AND id = $2`, [a.tenantId, first.id]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 50, objects: 1 });
    await db.query(`UPDATE objects SET is_delete_marker = false, size = 5 WHERE tenant_id = $1 AND id = $2`, [a.tenantId, first.id]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 55, objects: 2 });
    await db.query(`UPDATE objects SET size = size * 2 WHERE tenant_id = $1`, [a.tenantId]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 110, objects: 2 });
    // a size written back unchanged is no change
    await db.query(`UPDATE objects SET size = size, is_delete_marker = is_delete_marker WHERE tenant_id = $1`, [a.tenantId]);
    expect(await usage(a.tenantId)).toEqual(await counted(a.tenantId));

    // a row moved to another tenant leaves one counter for the other
    const moved = newObjectVersion('k3', 400);
    await objects.putNullVersion(a.tenantId, a.bucketId, `ferry-${a.tenantId}`, moved);
    await db.query(`UPDATE objects SET tenant_id = $2, bucket_id = $3 WHERE tenant_id = $1 AND id = $4`, [a.tenantId, b.tenantId, b.bucketId, moved.id]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 110, objects: 2 });
    expect(await usage(b.tenantId)).toEqual({ keptBytes: 477, objects: 2 });
    await db.query(`DELETE FROM objects WHERE tenant_id = $1 AND id = $2`, [b.tenantId, moved.id]);
    expect(await usage(b.tenantId)).toEqual(bBefore);

    await db.query(`DELETE FROM objects WHERE tenant_id = $1`, [a.tenantId]);
    expect(await usage(a.tenantId)).toEqual({ keptBytes: 0, objects: 0 });
    expect(await usage(b.tenantId)).toEqual(bBefore);
    expect(await usage(b.tenantId)).toEqual(await counted(b.tenantId));
  });

  it('does not run for updates that leave the counted columns alone', async () => {
    const [{ definition }] = (await db.query(
      `SELECT pg_get_triggerdef(t.oid) AS definition FROM pg_trigger t WHERE t.tgrelid = 'objects'::regclass AND t.tgname = 'objects_usage_update'`,
    )) as { definition: string }[];
    expect(definition).toMatch(/AFTER UPDATE OF size, is_delete_marker, tenant_id ON public\.objects FOR EACH ROW WHEN/);
  });
});
