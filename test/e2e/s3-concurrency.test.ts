import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';
import { listBlobs, spoolFiles } from '../support/faults.js';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** Writers racing on one key: exactly one version survives, whole, and nothing of the others leaks. */
describe('concurrent writers of one key', () => {
  let ferry: FerryUnderTest;
  let t: TenantSession;

  beforeAll(async () => {
    ferry = await FerryUnderTest.start();
    t = await ferry.tenant('racer');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'race' }));
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('keeps one whole version and collects every replaced one', async () => {
    // enough writers that some lose the single-statement race twice and take the transactional path
    const bodies = Array.from({ length: 40 }, (_, index) => randomBytes(100_000 + index));
    const results = await Promise.all(bodies.map((Body) => t.s3.send(new PutObjectCommand({ Bucket: 'race', Key: 'contested', Body }))));
    expect(results.map((result) => result.ETag)).toEqual(bodies.map((body) => `"${md5(body)}"`));

    const db = ferry.gateway.app.get(DataSource);
    const rows = (await db.query(`SELECT id, etag FROM objects WHERE tenant_id = $1 AND key = 'contested'`, [t.id])) as { id: string; etag: string }[];
    expect(rows).toHaveLength(1);
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'race', Key: 'contested' }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(md5(bytes)).toBe(rows[0].etag);
    expect(bodies.some((body) => body.equals(bytes))).toBe(true);

    // every replaced version's bytes are collected: one blob and one spool file remain at most
    const container = `${ferry.config.containerPrefix}${t.id}`;
    const settled = await eventually(async () => {
      const [pending] = (await db.query(`SELECT count(*)::int AS n FROM garbage WHERE tenant_id = $1`, [t.id])) as { n: number }[];
      const [staged] = (await db.query(`SELECT count(*)::int AS n FROM objects WHERE tenant_id = $1 AND state = 'staged'`, [t.id])) as { n: number }[];
      return pending.n === 0 && staged.n === 0;
    }, 60_000, 200);
    expect(settled).toBe(true);
    expect(await eventually(async () => (await listBlobs(ferry.config, container)).length === 1, 30_000, 200)).toBe(true);
    expect((await listBlobs(ferry.config, container)).map((blob) => blob.name)).toEqual([`objects/${rows[0].id}`]);
    const files = (await spoolFiles(ferry.config.spoolDir)).filter((file) => file.startsWith(`${t.id}/`));
    expect(files.length).toBeLessThanOrEqual(1);
  }, 120_000);
});
