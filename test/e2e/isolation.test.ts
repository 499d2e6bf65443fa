import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { SealedBox } from '@ferry/common';
import { readContainer } from '@ferry/packing';
import { BlobStore } from '@ferry/storage';
import { EvictCacheHandler } from '../../apps/worker/src/maintenance/evict-cache.handler.js';
import { eventually, FerryUnderTest, s3Failure, type TenantSession } from '../support/ferry.js';
import { downloadBlob, listBlobs, objectPath, s3Request } from '../support/faults.js';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');

/** The S3 error a request ends in; throws if it succeeds. */

/** What a denial to another tenant's data may look like: never success, never a server error. */
const DENIED = ['NoSuchBucket', 'NoSuchKey', 'AccessDenied', 'NoSuchUpload', 'NotFound'];

async function bytesOf(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

describe('tenant isolation over every S3 operation', () => {
  let ferry: FerryUnderTest;
  let alice: TenantSession;
  let bob: TenantSession;
  /** Alice's objects: bucket/key → bytes. */
  const aliceData = new Map<string, Buffer>();

  const expectAliceIntact = async () => {
    for (const [path, body] of aliceData) {
      const [bucket, ...key] = path.split('/');
      expect((await bytesOf(alice.s3, bucket, key.join('/'))).equals(body), path).toBe(true);
    }
  };

  beforeAll(async () => {
    // no recovery-cache window: once evicted, reads come from the tenant's packs
    ferry = await FerryUnderTest.start({ env: { FERRY_CACHE_HOURS: '0' } });
    alice = await ferry.tenant('alice');
    bob = await ferry.tenant('bob');
    // The same bucket name for both: names are per tenant. Plus buckets only Alice owns.
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await bob.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'alice-only' }));
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'alice-empty' }));
    const objects: [string, string, Buffer][] = [
      ['backups', 'secret.txt', Buffer.from('alice secret v1')],
      ['backups', 'dir/nested.bin', randomBytes(300 * 1024)],
      ['backups', 'shared-name.txt', Buffer.from('alice owns this key name too')],
      ['alice-only', 'private.bin', randomBytes(64 * 1024)],
    ];
    for (const [bucket, key, body] of objects) {
      await alice.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
      aliceData.set(`${bucket}/${key}`, body);
    }
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('lets both tenants own a bucket of the same name, and lists only your own buckets', async () => {
    const aliceBuckets = await alice.s3.send(new ListBucketsCommand({}));
    expect(aliceBuckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['alice-empty', 'alice-only', 'backups']);
    const bobBuckets = await bob.s3.send(new ListBucketsCommand({}));
    expect(bobBuckets.Buckets?.map((bucket) => bucket.Name)).toEqual(['backups']);
    expect(bobBuckets.Owner?.ID).toBe(bob.id);
    expect(JSON.stringify(bobBuckets)).not.toContain(alice.id);
  });

  it("B's own bucket of the same name is empty through every listing", async () => {
    const v2 = await bob.s3.send(new ListObjectsV2Command({ Bucket: 'backups' }));
    expect(v2.KeyCount).toBe(0);
    expect(v2.Contents ?? []).toEqual([]);
    const v1 = await bob.s3.send(new ListObjectsCommand({ Bucket: 'backups' }));
    expect(v1.Contents ?? []).toEqual([]);
    const folded = await bob.s3.send(new ListObjectsV2Command({ Bucket: 'backups', Delimiter: '/' }));
    expect(folded.CommonPrefixes ?? []).toEqual([]);
    const versions = await bob.s3.send(new ListObjectVersionsCommand({ Bucket: 'backups' }));
    expect(versions.Versions ?? []).toEqual([]);
    expect(versions.DeleteMarkers ?? []).toEqual([]);
  });

  it("B cannot read A's objects: GetObject, ranges, HeadObject, raw signed GETs", async () => {
    for (const path of aliceData.keys()) {
      const [bucket, ...rest] = path.split('/');
      const key = rest.join('/');
      expect(DENIED).toContain((await s3Failure(bob.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })))).name);
      expect(DENIED).toContain((await s3Failure(bob.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: 'bytes=0-3' })))).name);
      const head = await s3Failure(bob.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
      expect([403, 404]).toContain(head.status);
      // raw, so nothing in the SDK could hide a body: B never receives a byte of A's data
      const raw = await s3Request(ferry.s3Endpoint, bob, { method: 'GET', path: objectPath(bucket, key) });
      expect([403, 404]).toContain(raw.status);
      expect(raw.body.includes(aliceData.get(path)!.subarray(0, 12))).toBe(false);
    }
    expect(await s3Failure(bob.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'secret.txt' })))).toEqual({ name: 'NoSuchKey', status: 404 });
    expect(await s3Failure(bob.s3.send(new GetObjectCommand({ Bucket: 'alice-only', Key: 'private.bin' })))).toEqual({
      name: 'NoSuchBucket',
      status: 404,
    });
  });

  it("B cannot list A's buckets or learn anything about them", async () => {
    for (const command of [
      new ListObjectsCommand({ Bucket: 'alice-only' }),
      new ListObjectsV2Command({ Bucket: 'alice-only' }),
      new ListObjectVersionsCommand({ Bucket: 'alice-only' }),
      new GetBucketLocationCommand({ Bucket: 'alice-only' }),
      new GetBucketVersioningCommand({ Bucket: 'alice-only' }),
    ]) {
      expect(await s3Failure(bob.s3.send(command as never))).toEqual({ name: 'NoSuchBucket', status: 404 });
    }
    expect((await s3Failure(bob.s3.send(new HeadBucketCommand({ Bucket: 'alice-only' })))).status).toBe(404);
    expect((await s3Failure(bob.s3.send(new HeadBucketCommand({ Bucket: 'alice-empty' })))).status).toBe(404);
    // prefix probing in B's own bucket of the same name finds nothing of A's
    const probe = await bob.s3.send(new ListObjectsV2Command({ Bucket: 'backups', Prefix: 'dir/' }));
    expect(probe.KeyCount).toBe(0);
  });

  it("B cannot delete A's objects or buckets (A's data is intact afterwards)", async () => {
    // In B's own 'backups' the key does not exist: S3 answers 204, and A's object must be untouched.
    await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'secret.txt' }));
    expect(await s3Failure(bob.s3.send(new DeleteObjectCommand({ Bucket: 'alice-only', Key: 'private.bin' })))).toEqual({
      name: 'NoSuchBucket',
      status: 404,
    });
    const batch = await bob.s3.send(
      new DeleteObjectsCommand({ Bucket: 'backups', Delete: { Objects: [{ Key: 'secret.txt' }, { Key: 'dir/nested.bin' }, { Key: 'shared-name.txt' }] } }),
    );
    expect(batch.Errors ?? []).toEqual([]);
    expect(
      await s3Failure(bob.s3.send(new DeleteObjectsCommand({ Bucket: 'alice-only', Delete: { Objects: [{ Key: 'private.bin' }] } }))),
    ).toEqual({ name: 'NoSuchBucket', status: 404 });
    expect(await s3Failure(bob.s3.send(new DeleteBucketCommand({ Bucket: 'alice-empty' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
    expect(await s3Failure(bob.s3.send(new DeleteBucketCommand({ Bucket: 'alice-only' })))).toEqual({ name: 'NoSuchBucket', status: 404 });
    await alice.s3.send(new HeadBucketCommand({ Bucket: 'alice-empty' }));
    await alice.s3.send(new HeadBucketCommand({ Bucket: 'alice-only' }));
    await expectAliceIntact();
  });

  it("B's writes to a bucket name A also owns land in B's bucket; A's bytes are unchanged", async () => {
    const bobBody = Buffer.from('bob writes here');
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'shared-name.txt', Body: bobBody }));
    await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'bob-own.txt', Body: 'bob only' }));
    expect((await bytesOf(bob.s3, 'backups', 'shared-name.txt')).equals(bobBody)).toBe(true);
    expect(await s3Failure(bob.s3.send(new PutObjectCommand({ Bucket: 'alice-only', Key: 'private.bin', Body: 'overwrite?' })))).toEqual({
      name: 'NoSuchBucket',
      status: 404,
    });
    expect(await s3Failure(bob.s3.send(new PutObjectCommand({ Bucket: 'alice-only', Key: 'planted.txt', Body: 'planted' })))).toEqual({
      name: 'NoSuchBucket',
      status: 404,
    });
    await expectAliceIntact();
    expect(await s3Failure(alice.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'bob-own.txt' })))).toMatchObject({ status: 404 });
    expect(await s3Failure(alice.s3.send(new HeadObjectCommand({ Bucket: 'alice-only', Key: 'planted.txt' })))).toMatchObject({ status: 404 });
    const aliceList = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'backups' }));
    expect(aliceList.Contents?.map((object) => object.Key)).toEqual(['dir/nested.bin', 'secret.txt', 'shared-name.txt']);
    const aliceShared = await alice.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'shared-name.txt' }));
    expect(aliceShared.ETag).toBe(`"${md5(aliceData.get('backups/shared-name.txt')!)}"`);
    const bobList = await bob.s3.send(new ListObjectsV2Command({ Bucket: 'backups' }));
    expect(bobList.Contents?.map((object) => object.Key)).toEqual(['bob-own.txt', 'shared-name.txt']);
  });

  it("each tenant's bytes land in its own container and nowhere else", async () => {
    const db = ferry.gateway.app.get(DataSource);
    const stored = await eventually(async () => {
      const [row] = (await db.query(`SELECT count(*)::int AS staged FROM objects WHERE state <> 'stored'`)) as { staged: number }[];
      return row.staged === 0;
    }, 30_000);
    expect(stored).toBe(true);
    const rowsOf = async (tenantId: string) =>
      (await db.query(`SELECT o.id, b.name AS bucket, o.key, o.packed, o.blob_name FROM objects o JOIN buckets b ON b.id = o.bucket_id WHERE o.tenant_id = $1`, [
        tenantId,
      ])) as { id: string; bucket: string; key: string; packed: boolean; blob_name: string | null }[];
    const aliceRows = await rowsOf(alice.id);
    const bobRows = await rowsOf(bob.id);
    expect(aliceRows.map((row) => `${row.bucket}/${row.key}`).sort()).toEqual([...aliceData.keys()].sort());
    expect(bobRows.map((row) => `${row.bucket}/${row.key}`).sort()).toEqual(['backups/bob-own.txt', 'backups/shared-name.txt']);
    for (const row of [...aliceRows, ...bobRows]) expect({ packed: row.packed, blob_name: row.blob_name }, row.key).toEqual({ packed: true, blob_name: null });

    // Each container holds its tenant's keyring and the packs the catalog lists for that tenant, nothing
    // else (compared between two identical reads of the packs table, none being written).
    const containerOf = (tenant: TenantSession) => `${ferry.config.containerPrefix}${tenant.id}`;
    const packsOf = async (tenantId: string) =>
      ((await db.query(`SELECT id, state FROM packs WHERE tenant_id = $1 ORDER BY id`, [tenantId])) as { id: string; state: string }[]).map(
        (pack) => `${pack.state} packs/${pack.id}`,
      );
    const blobsOf = async (tenant: TenantSession): Promise<string[]> => {
      let names: string[] = [];
      let expected: string[] = [];
      const matched = await eventually(async () => {
        const before = await packsOf(tenant.id);
        names = (await listBlobs(ferry.config, containerOf(tenant))).map((blob) => blob.name);
        const after = await packsOf(tenant.id);
        // a retired pack (its chunks moved by prune) keeps its blob a while; one being written is waited for
        expected = ['ferry/keyring', ...after.map((pack) => pack.replace(/^(stored|retired) /, ''))].sort();
        return JSON.stringify(before) === JSON.stringify(after) && JSON.stringify(names) === JSON.stringify(expected);
      }, 20_000, 250);
      expect(matched, `${tenant.name}: container ${JSON.stringify(names)}, catalog ${JSON.stringify(expected)}`).toBe(true);
      return names;
    };
    const aliceBlobs = await blobsOf(alice);
    const bobBlobs = await blobsOf(bob);
    expect(aliceBlobs.filter((name) => name.startsWith('packs/')).length).toBeGreaterThan(0);
    expect(bobBlobs.filter((name) => name.startsWith('packs/')).length).toBeGreaterThan(0);
    expect(aliceBlobs.filter((name) => bobBlobs.includes(name))).toEqual(['ferry/keyring']);
    // and each container's packs are that tenant's: their indexes open with its keys and name it
    const box = new SealedBox(ferry.config.masterKey.id, ferry.config.masterKey.key.reveal());
    for (const [tenant, names] of [
      [alice, aliceBlobs],
      [bob, bobBlobs],
    ] as const) {
      const snapshot = await readContainer(ferry.gateway.app.get(BlobStore), box, tenant.id, containerOf(tenant));
      expect(snapshot.unreadable, tenant.name).toEqual([]);
      expect(snapshot.packs.map((pack) => `packs/${pack.id}`).sort(), tenant.name).toEqual(names.filter((name) => name !== 'ferry/keyring'));
    }

    // Byte for byte: no blob of either container holds plaintext of A's, A's own included (packs are
    // encrypted); B's plaintext is not in A's container either.
    const needles = (bodies: Iterable<Buffer>) =>
      [...bodies].flatMap((body) => (body.length <= 64 ? [body] : [body.subarray(0, 64), body.subarray(body.length >> 1, (body.length >> 1) + 64), body.subarray(body.length - 64)]));
    const aliceNeedles = [...needles(aliceData.values()), ...['secret.txt', 'dir/nested.bin', 'private.bin', 'alice-only'].map((name) => Buffer.from(name))];
    const bobNeedles = needles([Buffer.from('bob writes here'), Buffer.from('bob only')]);
    const found: string[] = [];
    for (const [tenant, names, forbidden] of [
      [alice, aliceBlobs, [...aliceNeedles, ...bobNeedles]],
      [bob, bobBlobs, aliceNeedles],
    ] as const) {
      for (const name of names) {
        const bytes = await downloadBlob(ferry.config, containerOf(tenant), name);
        for (const needle of forbidden) if (bytes.includes(needle)) found.push(`${tenant.name}:${name} holds ${JSON.stringify(needle.subarray(0, 24).toString('latin1'))}`);
      }
    }
    expect(found).toEqual([]);

    // A's objects come back from A's packs intact once the recovery cache is gone (FERRY_CACHE_HOURS=0)
    await ferry.worker!.get(EvictCacheHandler).handle();
    const cached = (await db.query(`SELECT key FROM objects WHERE tenant_id IN ($1, $2) AND spool IS NOT NULL`, [alice.id, bob.id])) as { key: string }[];
    expect(cached).toEqual([]);
    await expectAliceIntact();
    expect((await bytesOf(bob.s3, 'backups', 'shared-name.txt')).toString()).toBe('bob writes here');
  });

  it('CopyObject cannot read from or write into another tenant’s buckets', async () => {
    // positive control: the owner can copy, so B's failures below are isolation, not a missing feature
    await alice.s3.send(new CopyObjectCommand({ Bucket: 'backups', Key: 'copy-probe', CopySource: 'backups/secret.txt' }));
    expect((await bytesOf(alice.s3, 'backups', 'copy-probe')).equals(aliceData.get('backups/secret.txt')!)).toBe(true);
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'copy-probe' }));
    for (const source of ['alice-only/private.bin', 'backups/secret.txt', 'backups/dir/nested.bin']) {
      const denied = await s3Failure(bob.s3.send(new CopyObjectCommand({ Bucket: 'backups', Key: 'stolen', CopySource: source })));
      expect(DENIED, source).toContain(denied.name);
      expect(await s3Failure(bob.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'stolen' })))).toMatchObject({ status: 404 });
    }
    // nor can B copy into A's bucket
    expect(
      await s3Failure(bob.s3.send(new CopyObjectCommand({ Bucket: 'alice-only', Key: 'planted', CopySource: 'backups/bob-own.txt' }))),
    ).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    await expectAliceIntact();
  });

  it('multipart: B cannot see or use A’s uploads, nor UploadPartCopy A’s bytes', async () => {
    const uploadId = (await alice.s3.send(new CreateMultipartUploadCommand({ Bucket: 'backups', Key: 'mp.bin' }))).UploadId;
    expect(uploadId).toBeTruthy();
    const part = randomBytes(5 * 1024 * 1024);
    await alice.s3.send(new UploadPartCommand({ Bucket: 'backups', Key: 'mp.bin', UploadId: uploadId, PartNumber: 1, Body: part }));
    const mine = { Bucket: 'backups', Key: 'mp.bin', UploadId: uploadId };
    expect(await s3Failure(bob.s3.send(new UploadPartCommand({ ...mine, PartNumber: 2, Body: 'intruder' })))).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Failure(bob.s3.send(new ListPartsCommand(mine)))).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    expect(
      await s3Failure(bob.s3.send(new CompleteMultipartUploadCommand({ ...mine, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: `"${md5(part)}"` }] } }))),
    ).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    expect(await s3Failure(bob.s3.send(new AbortMultipartUploadCommand(mine)))).toMatchObject({ name: 'NoSuchUpload', status: 404 });
    // the same id against a bucket B does not own
    expect(
      await s3Failure(bob.s3.send(new UploadPartCommand({ Bucket: 'alice-only', Key: 'mp.bin', UploadId: uploadId, PartNumber: 1, Body: 'x' }))),
    ).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    // B cannot see A's uploads, in the bucket name both own or in A's own bucket
    const bobUploads = await bob.s3.send(new ListMultipartUploadsCommand({ Bucket: 'backups' }));
    expect(bobUploads.Uploads ?? []).toEqual([]);
    expect(await s3Failure(bob.s3.send(new ListMultipartUploadsCommand({ Bucket: 'alice-only' })))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    const aliceUploads = await alice.s3.send(new ListMultipartUploadsCommand({ Bucket: 'backups' }));
    expect(aliceUploads.Uploads?.map((upload) => upload.UploadId)).toEqual([uploadId]);
    // UploadPartCopy in B's own upload cannot take A's bytes as its source
    const bobUpload = (await bob.s3.send(new CreateMultipartUploadCommand({ Bucket: 'backups', Key: 'bob-mp.bin' }))).UploadId;
    const bobTarget = { Bucket: 'backups', Key: 'bob-mp.bin', UploadId: bobUpload, PartNumber: 1 };
    for (const source of ['alice-only/private.bin', 'backups/secret.txt']) {
      expect(DENIED, source).toContain((await s3Failure(bob.s3.send(new UploadPartCopyCommand({ ...bobTarget, CopySource: source })))).name);
    }
    const bobParts = await bob.s3.send(new ListPartsCommand({ Bucket: 'backups', Key: 'bob-mp.bin', UploadId: bobUpload }));
    expect(bobParts.Parts ?? []).toEqual([]);
    await bob.s3.send(new AbortMultipartUploadCommand({ Bucket: 'backups', Key: 'bob-mp.bin', UploadId: bobUpload }));
    // A's upload is untouched: one part, B's part 2 never arrived
    const parts = await alice.s3.send(new ListPartsCommand(mine));
    expect(parts.Parts?.map((p) => [p.PartNumber, p.Size])).toEqual([[1, part.length]]);
    await alice.s3.send(new AbortMultipartUploadCommand(mine));
  });

  it('an unknown key is InvalidAccessKeyId and a wrong secret is SignatureDoesNotMatch', async () => {
    const stranger = ferry.client('FRYAAAAAAAAAAAAAAAAA', 'x'.repeat(40));
    expect(await s3Failure(stranger.send(new ListBucketsCommand({})))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
    expect(await s3Failure(stranger.send(new GetObjectCommand({ Bucket: 'backups', Key: 'secret.txt' })))).toEqual({
      name: 'InvalidAccessKeyId',
      status: 403,
    });
    const wrongSecret = ferry.client(alice.accessKeyId, bob.secretAccessKey);
    expect(await s3Failure(wrongSecret.send(new GetObjectCommand({ Bucket: 'backups', Key: 'secret.txt' })))).toEqual({
      name: 'SignatureDoesNotMatch',
      status: 403,
    });
    expect(await s3Failure(wrongSecret.send(new PutObjectCommand({ Bucket: 'backups', Key: 'secret.txt', Body: 'forged' })))).toEqual({
      name: 'SignatureDoesNotMatch',
      status: 403,
    });
    // B's secret with A's key id is not B either
    const mixed = ferry.client(bob.accessKeyId, alice.secretAccessKey);
    expect(await s3Failure(mixed.send(new ListBucketsCommand({})))).toEqual({ name: 'SignatureDoesNotMatch', status: 403 });
    await expectAliceIntact();
  });

  it('a revoked key is InvalidAccessKeyId at once; the tenant’s other key keeps working', async () => {
    const created = await ferry.admin('POST', `/admin/v1/tenants/${alice.id}/keys`, { description: 'laptop' });
    expect(created.status).toBe(201);
    const second = ferry.client(created.body.accessKeyId, created.body.secretAccessKey);
    expect((await bytesOf(second, 'backups', 'secret.txt')).equals(aliceData.get('backups/secret.txt')!)).toBe(true);
    // another tenant's id in the path cannot revoke it
    const crossRevoke = await ferry.admin('DELETE', `/admin/v1/tenants/${bob.id}/keys/${created.body.accessKeyId}`);
    expect(crossRevoke.status).toBe(404);
    await second.send(new HeadBucketCommand({ Bucket: 'backups' }));
    const revoked = await ferry.admin('DELETE', `/admin/v1/tenants/${alice.id}/keys/${created.body.accessKeyId}`);
    expect(revoked.status).toBe(200);
    expect(await s3Failure(second.send(new GetObjectCommand({ Bucket: 'backups', Key: 'secret.txt' })))).toEqual({
      name: 'InvalidAccessKeyId',
      status: 403,
    });
    expect(await s3Failure(second.send(new PutObjectCommand({ Bucket: 'backups', Key: 'after-revoke', Body: 'x' })))).toEqual({
      name: 'InvalidAccessKeyId',
      status: 403,
    });
    expect(await s3Failure(second.send(new ListBucketsCommand({})))).toEqual({ name: 'InvalidAccessKeyId', status: 403 });
    expect(await s3Failure(alice.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'after-revoke' })))).toMatchObject({ status: 404 });
    await alice.s3.send(new HeadBucketCommand({ Bucket: 'backups' }));
  });

  it('a suspended tenant can read but not write; resuming restores writes', async () => {
    const suspended = await ferry.admin('PATCH', `/admin/v1/tenants/${alice.id}`, { suspended: true });
    expect(suspended.status).toBe(200);
    try {
      expect((await bytesOf(alice.s3, 'backups', 'secret.txt')).equals(aliceData.get('backups/secret.txt')!)).toBe(true);
      await alice.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'secret.txt' }));
      expect((await alice.s3.send(new ListObjectsV2Command({ Bucket: 'backups' }))).KeyCount).toBe(3);
      await alice.s3.send(new ListBucketsCommand({}));
      const denied = { name: 'AccessDenied', status: 403 };
      expect(await s3Failure(alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'secret.txt', Body: 'while suspended' })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'new.txt', Body: 'while suspended' })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'secret.txt' })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new DeleteObjectsCommand({ Bucket: 'backups', Delete: { Objects: [{ Key: 'secret.txt' }] } })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new CreateBucketCommand({ Bucket: 'while-suspended' })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new DeleteBucketCommand({ Bucket: 'alice-empty' })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new CreateMultipartUploadCommand({ Bucket: 'backups', Key: 'mp-suspended' })))).toEqual(denied);
      expect(await s3Failure(alice.s3.send(new CopyObjectCommand({ Bucket: 'backups', Key: 'copy-suspended', CopySource: 'backups/secret.txt' })))).toEqual(denied);
      await expectAliceIntact();
      expect(await s3Failure(alice.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'new.txt' })))).toMatchObject({ status: 404 });
      expect(await s3Failure(alice.s3.send(new HeadBucketCommand({ Bucket: 'while-suspended' })))).toMatchObject({ status: 404 });
      // suspending A does nothing to B
      await bob.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'bob-while-a-suspended', Body: 'fine' }));
      await bob.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'bob-while-a-suspended' }));
    } finally {
      expect((await ferry.admin('PATCH', `/admin/v1/tenants/${alice.id}`, { suspended: false })).status).toBe(200);
    }
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'after-resume.txt', Body: 'resumed' }));
    expect((await bytesOf(alice.s3, 'backups', 'after-resume.txt')).toString()).toBe('resumed');
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'backups', Key: 'after-resume.txt' }));
  });
});
