import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataSource } from 'typeorm';
import {
  AccessKeysRepository,
  BucketsRepository,
  catalogDataSourceOptions,
  NULL_VERSION,
  ObjectsRepository,
  ObjectVersionEntity,
  runMigrations,
  TenantEntity,
  TenantsRepository,
} from '@ferry/catalog';
import { freshDatabase, newObjectVersion } from '@ferry/testing';

/**
 * The hot reads that skip TypeORM's query builder (RawRows) must give exactly what TypeORM gives for
 * the same row: same class, same properties, same types (bigints as numbers, JSON parsed, dates).
 */
describe('rows read with plain SQL match what TypeORM reads (real Postgres)', () => {
  let database: Awaited<ReturnType<typeof freshDatabase>>;
  let db: DataSource;

  beforeAll(async () => {
    database = await freshDatabase();
    await runMigrations(database.url);
    db = await new DataSource(catalogDataSourceOptions(database.url, 2)).initialize();
  });
  afterAll(async () => {
    await db?.destroy();
    await database?.drop();
  });

  it('for tenants and object versions, every column included', async () => {
    const tenants = new TenantsRepository(db);
    const id = randomUUID();
    const accessKeyId = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
    await tenants.create(
      { id, name: `raw-${id.slice(0, 8)}`, quotaBytes: 5 * 2 ** 40, container: `ferry-${id}`, leaseExpiresAt: new Date('2027-01-02T03:04:05.678Z') },
      { accessKeyId, secretSealed: randomBytes(40), masterKeyId: 'k1', description: null },
    );
    const viaTypeorm = await db.getRepository(TenantEntity).findOneByOrFail({ id });
    const tenant = await tenants.get(id);
    expect(tenant).toBeInstanceOf(TenantEntity);
    expect(tenant).toStrictEqual(viaTypeorm);
    expect(tenant.quotaBytes).toBe(5 * 2 ** 40);

    const bucket = await new BucketsRepository(db).create(id, 'raw');
    const objects = new ObjectsRepository(db);
    const objectId = randomUUID();
    await objects.putNullVersion(id, bucket.id, `ferry-${id}`, {
      id: objectId,
      key: 'dir/ключ with spaces',
      size: 3 * 2 ** 32 + 7,
      etag: 'd41d8cd98f00b204e9800998ecf8427e-2',
      contentType: 'application/x-raw',
      headers: { cacheControl: 'no-cache', contentDisposition: 'attachment' },
      userMetadata: { origin: 'raw-rows', empty: '' },
      checksums: { CRC32: 'AAAAAA==' },
      checksumType: 'COMPOSITE',
      parts: [
        { size: 2 ** 32, etag: 'a' },
        { size: 2 * 2 ** 32 + 7, etag: 'b' },
      ],
      spool: [{ path: 'x/1', size: 7 }],
    });
    const expected = await db.getRepository(ObjectVersionEntity).findOneByOrFail({ tenantId: id, id: objectId });
    for (const row of [
      await objects.getVersion(id, bucket.id, 'dir/ключ with spaces', NULL_VERSION),
      await objects.getLatest(id, bucket.id, 'dir/ключ with spaces'),
      await objects.getById(id, objectId),
    ]) {
      expect(row).toBeInstanceOf(ObjectVersionEntity);
      expect(row).toStrictEqual(expected);
    }
    expect(expected.size).toBe(3 * 2 ** 32 + 7);
    // read with the access key (the round trip a GET starts with): the same row, or null when none
    const keys = new AccessKeysRepository(db);
    const withKey = await keys.findActive(accessKeyId, 'raw', { key: 'dir/ключ with spaces', versionId: NULL_VERSION });
    expect(withKey?.object).toBeInstanceOf(ObjectVersionEntity);
    expect(withKey?.object).toStrictEqual(expected);
    expect(withKey?.bucket?.id).toBe(bucket.id);
    expect((await keys.findActive(accessKeyId, 'raw', { key: 'no such key', versionId: NULL_VERSION }))?.object).toBeNull();
    expect((await keys.findActive(accessKeyId, 'no-bucket', { key: 'dir/ключ with spaces', versionId: NULL_VERSION }))?.object).toBeNull();
    expect(await keys.findActive(accessKeyId, 'raw')).not.toHaveProperty('object');
    // scoped like every tenant read: another tenant's id finds nothing
    expect(await objects.getById(randomUUID(), objectId)).toBeUndefined();
    await expect(tenants.get(randomUUID())).rejects.toThrow(/no tenant/);

    // another tenant with a bucket and a key of the same names: each key reads its own tenant's row only
    const other = randomUUID();
    const otherKey = `AK${randomBytes(8).toString('hex').toUpperCase()}`;
    await tenants.create(
      { id: other, name: `raw-${other.slice(0, 8)}`, quotaBytes: 2 ** 40, container: `ferry-${other}`, leaseExpiresAt: null },
      { accessKeyId: otherKey, secretSealed: randomBytes(40), masterKeyId: 'k1', description: null },
    );
    const otherBucket = await new BucketsRepository(db).create(other, 'raw');
    expect((await keys.findActive(otherKey, 'raw', { key: 'dir/ключ with spaces', versionId: NULL_VERSION }))?.object).toBeNull();
    await objects.putNullVersion(other, otherBucket.id, `ferry-${other}`, newObjectVersion('dir/ключ with spaces', 1, { spool: [{ path: 'y/1', size: 1 }] }));
    const theirs = (await keys.findActive(otherKey, 'raw', { key: 'dir/ключ with spaces', versionId: NULL_VERSION }))?.object;
    expect(theirs?.tenantId).toBe(other);
    expect(theirs?.size).toBe(1);
    expect((await keys.findActive(accessKeyId, 'raw', { key: 'dir/ключ with spaces', versionId: NULL_VERSION }))?.object).toStrictEqual(expected);
  });
});
