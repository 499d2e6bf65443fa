import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { XMLParser } from 'fast-xml-parser';
import { FerryUnderTest, s3Failure, type TenantSession } from '../support/ferry.js';

const FOLDER = '.system-d26a9498-cb7c-4a87-a44a-8ae204f5ba6c/';
const SYSTEM = `${FOLDER}system.xml`;
const CAPACITY = `${FOLDER}capacity.xml`;
const MiB = 1024 ** 2;
const ALICE_QUOTA = 5 * 1024 ** 3;
const BOB_QUOTA = 3 * 1024 ** 3;

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');
const parser = new XMLParser({ parseTagValue: false, ignoreDeclaration: true });

async function fetch(s3: S3Client, bucket: string, key: string) {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const body = Buffer.from(await got.Body!.transformToByteArray());
  return { got, body, doc: parser.parse(body.toString('utf8')) as Record<string, any> };
}

async function capacityOf(s3: S3Client, bucket: string) {
  const { doc } = await fetch(s3, bucket, CAPACITY);
  const info = doc.CapacityInfo as Record<string, string>;
  return { capacity: Number(info.Capacity), available: Number(info.Available), used: Number(info.Used) };
}

describe('Veeam SOSAPI: system.xml and capacity.xml in every bucket', () => {
  let ferry: FerryUnderTest;
  let alice: TenantSession;
  let bob: TenantSession;

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({ worker: false });
    alice = await ferry.tenant('alice', ALICE_QUOTA);
    bob = await ferry.tenant('bob', BOB_QUOTA);
    // the same bucket name in both tenants: each must still see only its own capacity
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'veeam' }));
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'other' }));
    await bob.s3.send(new CreateBucketCommand({ Bucket: 'veeam' }));
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('serves system.xml with the SystemInfo of the spec, as an XML object with an MD5 ETag', async () => {
    const { got, body, doc } = await fetch(alice.s3, 'veeam', SYSTEM);
    expect(doc.SystemInfo).toEqual({
      ProtocolVersion: '"1.0"',
      ModelName: '"Ferry"',
      ProtocolCapabilities: { CapacityInfo: 'true', UploadSessions: 'false', IAMSTS: 'false' },
      SystemRecommendations: { S3ConcurrentTaskLimit: '64', S3MultiObjectDeleteLimit: '1000', KbBlockSize: '1024' },
    });
    expect(got.ContentType).toBe('application/xml');
    expect(got.ContentLength).toBe(body.length);
    expect(got.ETag).toBe(`"${md5(body)}"`);
    expect(Math.abs(got.LastModified!.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('reports the quota set at tenant creation and the bytes kept, growing with each object', async () => {
    expect(await capacityOf(alice.s3, 'veeam')).toEqual({ capacity: ALICE_QUOTA, available: ALICE_QUOTA, used: 0 });

    await alice.s3.send(new PutObjectCommand({ Bucket: 'veeam', Key: 'Veeam/Archive/blocks/one', Body: randomBytes(MiB) }));
    expect(await capacityOf(alice.s3, 'veeam')).toEqual({ capacity: ALICE_QUOTA, available: ALICE_QUOTA - MiB, used: MiB });

    // the quota is the tenant's, so every bucket of the tenant reports the same figures
    await alice.s3.send(new PutObjectCommand({ Bucket: 'other', Key: 'two', Body: randomBytes(MiB + 5) }));
    const expected = { capacity: ALICE_QUOTA, available: ALICE_QUOTA - 2 * MiB - 5, used: 2 * MiB + 5 };
    expect(await capacityOf(alice.s3, 'veeam')).toEqual(expected);
    expect(await capacityOf(alice.s3, 'other')).toEqual(expected);

    // an overwrite replaces, a delete frees
    await alice.s3.send(new PutObjectCommand({ Bucket: 'other', Key: 'two', Body: randomBytes(10) }));
    expect((await capacityOf(alice.s3, 'other')).used).toBe(MiB + 10);
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'other', Key: 'two' }));
    expect((await capacityOf(alice.s3, 'other')).used).toBe(MiB);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    for (const key of [SYSTEM, CAPACITY]) {
      const { body } = await fetch(alice.s3, 'veeam', key);
      const head = await alice.s3.send(new HeadObjectCommand({ Bucket: 'veeam', Key: key }));
      expect(head.ContentType, key).toBe('application/xml');
      expect(head.ContentLength, key).toBe(body.length);
      expect(head.ETag, key).toBe(`"${md5(body)}"`);
      expect(head.LastModified, key).toBeInstanceOf(Date);
    }
  });

  it('serves a byte range of a document', async () => {
    const { body } = await fetch(alice.s3, 'veeam', SYSTEM);
    const part = await alice.s3.send(new GetObjectCommand({ Bucket: 'veeam', Key: SYSTEM, Range: 'bytes=5-24' }));
    expect(part.$metadata.httpStatusCode).toBe(206);
    expect(part.ContentRange).toBe(`bytes 5-24/${body.length}`);
    expect(Buffer.from(await part.Body!.transformToByteArray()).equals(body.subarray(5, 25))).toBe(true);
  });

  it('lists both files only to a listing of their folder, with their size and ETag', async () => {
    const system = await fetch(alice.s3, 'veeam', SYSTEM);

    const folder = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Prefix: FOLDER }));
    expect(folder.Contents?.map((object) => object.Key)).toEqual([CAPACITY, SYSTEM]);
    expect(folder.KeyCount).toBe(2);
    const listedSystem = folder.Contents!.find((object) => object.Key === SYSTEM)!;
    expect(listedSystem.Size).toBe(system.body.length);
    expect(listedSystem.ETag).toBe(`"${md5(system.body)}"`);
    const listedCapacity = folder.Contents!.find((object) => object.Key === CAPACITY)!;
    const capacity = await fetch(alice.s3, 'veeam', CAPACITY);
    expect(listedCapacity.Size).toBe(capacity.body.length);
    expect(listedCapacity.ETag).toBe(`"${md5(capacity.body)}"`);

    const exact = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Prefix: SYSTEM, MaxKeys: 1 }));
    expect(exact.Contents?.map((object) => object.Key)).toEqual([SYSTEM]);
    const paged = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Prefix: FOLDER, MaxKeys: 1 }));
    expect(paged.Contents?.map((object) => object.Key)).toEqual([CAPACITY]);
    expect(paged.IsTruncated).toBe(true);
    const rest = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Prefix: FOLDER, ContinuationToken: paged.NextContinuationToken }));
    expect(rest.Contents?.map((object) => object.Key)).toEqual([SYSTEM]);
    expect(rest.IsTruncated).toBe(false);

    const v1 = await alice.s3.send(new ListObjectsCommand({ Bucket: 'veeam', Prefix: FOLDER }));
    expect(v1.Contents?.map((object) => object.Key)).toEqual([CAPACITY, SYSTEM]);
    const versions = await alice.s3.send(new ListObjectVersionsCommand({ Bucket: 'veeam', Prefix: FOLDER }));
    expect(versions.Versions?.map((version) => [version.Key, version.VersionId, version.IsLatest])).toEqual([
      [CAPACITY, 'null', true],
      [SYSTEM, 'null', true],
    ]);

    // a plain listing shows what the client stored, and nothing of the system folder
    const plain = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam' }));
    expect(plain.Contents?.map((object) => object.Key)).toEqual(['Veeam/Archive/blocks/one']);
    const rooted = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Delimiter: '/' }));
    expect(rooted.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['Veeam/']);
    expect(rooted.Contents ?? []).toEqual([]);
    const almost = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Prefix: '.system-' }));
    expect(almost.Contents ?? []).toEqual([]);
  });

  it('refuses to write, delete or upload over the files: AccessDenied, and they stay generated', async () => {
    const denied = { name: 'AccessDenied', status: 403 };
    expect(await s3Failure(alice.s3.send(new PutObjectCommand({ Bucket: 'veeam', Key: SYSTEM, Body: '<SystemInfo/>' })))).toMatchObject(denied);
    expect(await s3Failure(alice.s3.send(new PutObjectCommand({ Bucket: 'veeam', Key: CAPACITY, Body: 'x' })))).toMatchObject(denied);
    expect(await s3Failure(alice.s3.send(new DeleteObjectCommand({ Bucket: 'veeam', Key: SYSTEM })))).toMatchObject(denied);
    expect(
      await s3Failure(alice.s3.send(new CopyObjectCommand({ Bucket: 'veeam', Key: CAPACITY, CopySource: 'veeam/Veeam/Archive/blocks/one' }))),
    ).toMatchObject(denied);
    expect(await s3Failure(alice.s3.send(new CreateMultipartUploadCommand({ Bucket: 'veeam', Key: SYSTEM })))).toMatchObject(denied);

    const { doc } = await fetch(alice.s3, 'veeam', SYSTEM);
    expect(doc.SystemInfo.ModelName).toBe('"Ferry"');
    expect((await capacityOf(alice.s3, 'veeam')).used).toBe(MiB);
    const plain = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam' }));
    expect(plain.Contents?.map((object) => object.Key)).toEqual(['Veeam/Archive/blocks/one']);
  });

  it('answers only in buckets that exist', async () => {
    expect(await s3Failure(alice.s3.send(new GetObjectCommand({ Bucket: 'missing', Key: SYSTEM })))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    expect(await s3Failure(alice.s3.send(new GetObjectCommand({ Bucket: 'missing', Key: CAPACITY })))).toMatchObject({ name: 'NoSuchBucket', status: 404 });
    expect(await s3Failure(alice.s3.send(new HeadObjectCommand({ Bucket: 'missing', Key: CAPACITY })))).toMatchObject({ status: 404 });
    expect(await s3Failure(alice.s3.send(new PutObjectCommand({ Bucket: 'missing', Key: SYSTEM, Body: 'x' })))).toMatchObject({ name: 'NoSuchBucket' });
  });

  it('shows each tenant its own capacity, in a bucket of the same name', async () => {
    expect(await capacityOf(bob.s3, 'veeam')).toEqual({ capacity: BOB_QUOTA, available: BOB_QUOTA, used: 0 });
    await bob.s3.send(new PutObjectCommand({ Bucket: 'veeam', Key: 'b', Body: randomBytes(3 * MiB) }));
    expect(await capacityOf(bob.s3, 'veeam')).toEqual({ capacity: BOB_QUOTA, available: BOB_QUOTA - 3 * MiB, used: 3 * MiB });
    expect(await capacityOf(alice.s3, 'veeam')).toEqual({ capacity: ALICE_QUOTA, available: ALICE_QUOTA - MiB, used: MiB });
    // bob cannot read alice's documents through her bucket name
    expect((await s3Failure(bob.s3.send(new GetObjectCommand({ Bucket: 'other', Key: CAPACITY })))).name).toBe('NoSuchBucket');
  });

  it('follows a changed quota, and never reports negative space', async () => {
    expect((await ferry.admin('PATCH', `/admin/v1/tenants/${bob.id}`, { quotaBytes: 2 * MiB })).status).toBe(200);
    expect(await capacityOf(bob.s3, 'veeam')).toEqual({ capacity: 2 * MiB, available: 0, used: 3 * MiB });
    expect((await ferry.admin('PATCH', `/admin/v1/tenants/${bob.id}`, { quotaBytes: BOB_QUOTA })).status).toBe(200);
  });

  it('still answers a suspended tenant, whose writes are refused', async () => {
    expect((await ferry.admin('PATCH', `/admin/v1/tenants/${bob.id}`, { suspended: true })).status).toBe(200);
    try {
      expect(await capacityOf(bob.s3, 'veeam')).toEqual({ capacity: BOB_QUOTA, available: BOB_QUOTA - 3 * MiB, used: 3 * MiB });
      expect((await fetch(bob.s3, 'veeam', SYSTEM)).doc.SystemInfo.ProtocolVersion).toBe('"1.0"');
      await bob.s3.send(new HeadObjectCommand({ Bucket: 'veeam', Key: CAPACITY }));
      expect(await s3Failure(bob.s3.send(new PutObjectCommand({ Bucket: 'veeam', Key: 'c', Body: 'x' })))).toMatchObject({ name: 'AccessDenied' });
    } finally {
      expect((await ferry.admin('PATCH', `/admin/v1/tenants/${bob.id}`, { suspended: false })).status).toBe(200);
    }
  });

  it('answers while the ledger is down: it reads only the catalog', async () => {
    await ferry.stopLedger();
    try {
      // the ledger is really gone: a write, which reserves quota there, cannot proceed
      expect((await s3Failure(alice.s3.send(new PutObjectCommand({ Bucket: 'veeam', Key: 'late', Body: 'x' })))).status).toBe(503);
      expect(await capacityOf(alice.s3, 'veeam')).toEqual({ capacity: ALICE_QUOTA, available: ALICE_QUOTA - MiB, used: MiB });
      expect((await fetch(alice.s3, 'veeam', SYSTEM)).doc.SystemInfo.ModelName).toBe('"Ferry"');
      const folder = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'veeam', Prefix: FOLDER }));
      expect(folder.Contents?.map((object) => object.Key)).toEqual([CAPACITY, SYSTEM]);
    } finally {
      await ferry.startLedger();
    }
  });
});
