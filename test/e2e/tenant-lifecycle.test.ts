import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { BlobServiceClient } from '@azure/storage-blob';
import { DataSource } from 'typeorm';
import { utimes } from 'node:fs/promises';
import { ObjectsRepository, TenantsRepository } from '@ferry/catalog';
import { Spool } from '@ferry/storage';
import { EvictCacheHandler } from '../../apps/worker/src/maintenance/evict-cache.handler.js';
import { SPOOL_ORPHAN_AGE_MS, SweepSpoolHandler } from '../../apps/worker/src/maintenance/sweep-spool.handler.js';
import { allStored, eventually, FerryUnderTest } from '../support/ferry.js';

describe('tenant lifecycle and the recovery cache', () => {
  let ferry: FerryUnderTest;

  beforeAll(async () => {
    // evict as soon as an object is stored, so the test sees both sides of the cache rule
    ferry = await FerryUnderTest.start({ env: { FERRY_CACHE_HOURS: '0' } });
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  const containerOf = (tenantId: string) =>
    BlobServiceClient.fromConnectionString(ferry.config.azureConnectionString.reveal()).getContainerClient(
      `${ferry.config.containerPrefix}${tenantId}`,
    );

  it('evicts stored objects from the spool, never staged ones, and still serves them from Blob', async () => {
    const t = await ferry.tenant('cache-user');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'cached' }));
    await ferry.stopWorker();
    await t.s3.send(new PutObjectCommand({ Bucket: 'cached', Key: 'staged.txt', Body: 'waiting for the worker' }));
    const db = ferry.gateway.app.get(DataSource);
    const spool = ferry.gateway.app.get(Spool);
    const [row] = (await db.query(`SELECT id, state, spool FROM objects WHERE key = 'staged.txt'`)) as {
      id: string;
      state: string;
      spool: { path: string }[];
    }[];
    expect(row.state).toBe('staged');
    // an eviction pass while the object is staged leaves its only copy alone, even with a zero window
    await new EvictCacheHandler(ferry.config, ferry.gateway.app.get(ObjectsRepository), spool).handle();
    expect(await spool.exists(row.spool[0].path)).toBe(true);
    await ferry.startWorker();
    const stored = await eventually(async () => {
      const [current] = (await db.query(`SELECT state, spool FROM objects WHERE id = $1`, [row.id])) as { state: string; spool: unknown }[];
      return current.state === 'stored' && current.spool === null;
    }, 90_000);
    expect(stored).toBe(true);
    // the row forgets its spool copy first, then the file goes
    expect(await eventually(async () => !(await spool.exists(row.spool[0].path)), 10_000, 50)).toBe(true);
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'cached', Key: 'staged.txt' }));
    expect(await got.Body!.transformToString()).toBe('waiting for the worker');
  }, 120_000);

  it('sweeps spool files that no row refers to once they are an hour old, and only those', async () => {
    const t = await ferry.tenant('sweeper');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'sweep' }));
    await ferry.stopWorker();
    await t.s3.send(new PutObjectCommand({ Bucket: 'sweep', Key: 'kept', Body: 'still staged' }));
    const spool = ferry.gateway.app.get(Spool);
    const orphanOld = `${t.id}/orphan-old`;
    const orphanNew = `${t.id}/orphan-new`;
    for (const path of [orphanOld, orphanNew]) {
      const writer = await spool.createWriter(path);
      await new Promise<void>((resolve, reject) => writer.end('left by a crashed upload', (error?: Error | null) => (error ? reject(error) : resolve())));
    }
    const hourAgo = new Date(Date.now() - 2 * SPOOL_ORPHAN_AGE_MS);
    await utimes(spool.absolute(orphanOld), hourAgo, hourAgo);
    const objects = ferry.gateway.app.get(ObjectsRepository);
    const [kept] = [...(await objects.referencedSpoolPaths(t.id))];
    await utimes(spool.absolute(kept), hourAgo, hourAgo);
    const logger = { info: () => undefined } as never;
    await new SweepSpoolHandler(logger, objects, ferry.gateway.app.get(TenantsRepository), spool).handle();
    expect(await spool.exists(orphanOld)).toBe(false);
    expect(await spool.exists(orphanNew)).toBe(true);
    expect(await spool.exists(kept)).toBe(true);
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'sweep', Key: 'kept' }));
    expect(await got.Body!.transformToString()).toBe('still staged');
    await ferry.startWorker();
  });

  it('refuses to delete a tenant that holds data unless forced, and forcing removes its container', async () => {
    const t = await ferry.tenant('leaving');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'stuff' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'stuff', Key: 'a', Body: 'bytes' }));
    expect(await eventually(async () => allStored(await ferry.admin('GET', `/admin/v1/tenants/${t.id}/usage`), 5))).toBe(true);
    expect(await containerOf(t.id).exists()).toBe(true);
    const refused = await ferry.admin('DELETE', `/admin/v1/tenants/${t.id}`);
    expect(refused.status).toBe(409);
    expect(refused.body.title).toBe('TenantHasData');
    const forced = await ferry.admin('DELETE', `/admin/v1/tenants/${t.id}?force=true`);
    expect(forced.status).toBe(204);
    expect(await containerOf(t.id).exists()).toBe(false);
    expect((await ferry.admin('GET', `/admin/v1/tenants/${t.id}`)).status).toBe(404);
    // its key no longer works
    const error = await t.s3.send(new GetObjectCommand({ Bucket: 'stuff', Key: 'a' })).catch((caught: { name: string }) => caught);
    expect((error as { name: string }).name).toBe('InvalidAccessKeyId');
  });
});
