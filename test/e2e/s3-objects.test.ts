import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketLocationCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { EvictCacheHandler } from '../../apps/worker/src/maintenance/evict-cache.handler.js';
import { allStored, eventually, FerryUnderTest, s3Failure, type TenantSession } from '../support/ferry.js';
import { listBlobs } from '../support/faults.js';

const md5 = (data: Buffer) => createHash('md5').update(data).digest('hex');


describe('S3 objects through the gateway (@aws-sdk/client-s3, default checksums)', () => {
  let ferry: FerryUnderTest;
  let alice: TenantSession;

  beforeAll(async () => {
    // no recovery-cache window: once evicted, a stored object is read from its tenant's packs
    ferry = await FerryUnderTest.start({ env: { FERRY_CACHE_HOURS: '0' } });
    alice = await ferry.tenant('alice');
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('creates, lists, heads and locates buckets', async () => {
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    const listed = await alice.s3.send(new ListBucketsCommand({}));
    expect(listed.Buckets?.map((bucket) => bucket.Name)).toEqual(['backups']);
    await alice.s3.send(new HeadBucketCommand({ Bucket: 'backups' }));
    const location = await alice.s3.send(new GetBucketLocationCommand({ Bucket: 'backups' }));
    expect(location.LocationConstraint ?? '').toBe('');
    const versioning = await alice.s3.send(new GetBucketVersioningCommand({ Bucket: 'backups' }));
    expect(versioning.Status).toBeUndefined();
    expect(await s3Failure(alice.s3.send(new CreateBucketCommand({ Bucket: 'backups' })))).toMatchObject({
      name: 'BucketAlreadyOwnedByYou',
      status: 409,
    });
    expect(await s3Failure(alice.s3.send(new CreateBucketCommand({ Bucket: 'Bad_Name' })))).toMatchObject({ name: 'InvalidBucketName' });
    expect(await s3Failure(alice.s3.send(new HeadBucketCommand({ Bucket: 'nope' })))).toMatchObject({ status: 404 });
  });

  it('round-trips an object byte for byte with metadata, and forwards it to the tenant container', async () => {
    const body = randomBytes(3 * 1024 * 1024 + 17);
    const put = await alice.s3.send(
      new PutObjectCommand({
        Bucket: 'backups',
        Key: 'dir/one file+plus.bin',
        Body: body,
        ContentType: 'application/x-test',
        Metadata: { origin: 'unit', 'two-words': 'hello world' },
        CacheControl: 'no-cache',
      }),
    );
    expect(put.ETag).toBe(`"${md5(body)}"`);
    const got = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'dir/one file+plus.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(got.ContentType).toBe('application/x-test');
    expect(got.Metadata).toEqual({ origin: 'unit', 'two-words': 'hello world' });
    expect(got.CacheControl).toBe('no-cache');
    expect(got.ContentEncoding).toBeUndefined();

    const db = ferry.gateway.app.get(DataSource);
    const tenant = await ferry.admin('GET', `/admin/v1/tenants/${alice.id}`);
    expect(tenant.body.logicalBytes).toBe(body.length);
    const stored = await eventually(async () => allStored(await ferry.admin('GET', `/admin/v1/tenants/${alice.id}/usage`), body.length));
    expect(stored).toBe(true);
    const [row] = (await db.query(
      `SELECT o.id, o.state, o.packed, o.blob_name FROM objects o JOIN buckets b ON b.id = o.bucket_id
        WHERE o.tenant_id = $1 AND b.name = 'backups' AND o.key = 'dir/one file+plus.bin'`,
      [alice.id],
    )) as { id: string; state: string; packed: boolean; blob_name: string | null }[];
    expect(row).toMatchObject({ state: 'stored', packed: true, blob_name: null });
    // its chunks sit in packs in the tenant's container, and the packs hold at least its bytes (random: no compression)
    const packs = (await db.query(
      `SELECT DISTINCT p.id, p.size, p.state FROM object_chunks m JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id
         JOIN packs p ON p.id = c.pack_id WHERE m.object_id = $1`,
      [row.id],
    )) as { id: string; size: string; state: string }[];
    expect(packs.length).toBeGreaterThan(0);
    const blobs = await listBlobs(ferry.config, `${ferry.config.containerPrefix}${alice.id}`);
    for (const pack of packs) {
      expect(pack.state).toBe('stored');
      expect(blobs.find((blob) => blob.name === `packs/${pack.id}`)?.size, pack.id).toBe(Number(pack.size));
    }
    const usage = (await ferry.admin('GET', `/admin/v1/tenants/${alice.id}/usage`)).body;
    expect(usage.storedBytes).toBeGreaterThanOrEqual(body.length);

    // the recovery cache evicted (FERRY_CACHE_HOURS=0): the same bytes and metadata, now from the packs
    await ferry.worker!.get(EvictCacheHandler).handle();
    const [evicted] = (await db.query(`SELECT spool FROM objects WHERE id = $1`, [row.id])) as { spool: unknown }[];
    expect(evicted.spool).toBeNull();
    const fromPacks = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'dir/one file+plus.bin' }));
    expect(Buffer.from(await fromPacks.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(fromPacks.ETag).toBe(`"${md5(body)}"`);
    expect(fromPacks.ContentType).toBe('application/x-test');
    expect(fromPacks.Metadata).toEqual({ origin: 'unit', 'two-words': 'hello world' });
    expect(fromPacks.CacheControl).toBe('no-cache');
    // a range across chunk boundaries (chunks are 256 KiB to 4 MiB)
    const range = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'dir/one file+plus.bin', Range: `bytes=${200_000}-${body.length - 100}` }));
    expect(Buffer.from(await range.Body!.transformToByteArray()).equals(body.subarray(200_000, body.length - 99))).toBe(true);
  });

  it('serves ranges, conditional requests and checksums', async () => {
    const body = Buffer.from('0123456789abcdefghij');
    const put = await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'small.txt', Body: body, ChecksumAlgorithm: 'SHA256' }));
    const range = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', Range: 'bytes=2-5' }));
    expect(await range.Body!.transformToString()).toBe('2345');
    expect(range.ContentRange).toBe('bytes 2-5/20');
    const suffix = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', Range: 'bytes=-3' }));
    expect(await suffix.Body!.transformToString()).toBe('hij');
    const open = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', Range: 'bytes=18-' }));
    expect(await open.Body!.transformToString()).toBe('ij');
    expect(await s3Failure(alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', Range: 'bytes=20-' })))).toMatchObject({
      status: 416,
    });
    expect(await s3Failure(alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', IfMatch: '"nope"' })))).toMatchObject({
      status: 412,
    });
    expect(await s3Failure(alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', IfNoneMatch: put.ETag })))).toMatchObject({
      status: 304,
    });
    const withChecksum = await alice.s3.send(new HeadObjectCommand({ Bucket: 'backups', Key: 'small.txt', ChecksumMode: 'ENABLED' }));
    expect(withChecksum.ChecksumSHA256).toBe(createHash('sha256').update(body).digest('base64'));
    const overridden = await alice.s3.send(
      new GetObjectCommand({ Bucket: 'backups', Key: 'small.txt', ResponseContentType: 'text/x-override', ResponseContentDisposition: 'attachment' }),
    );
    expect(overridden.ContentType).toBe('text/x-override');
    expect(overridden.ContentDisposition).toBe('attachment');
    await overridden.Body!.transformToString();
  });

  it('lists with prefixes, delimiters and continuation', async () => {
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
    const keys = ['a/1', 'a/2', 'a/b/3', 'b/4', 'c', 'd e', 'z/9'];
    for (const key of keys) await alice.s3.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: key }));
    const all = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'listing' }));
    expect(all.Contents?.map((object) => object.Key)).toEqual(keys);
    const folded = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'listing', Delimiter: '/' }));
    expect(folded.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['a/', 'b/', 'z/']);
    expect(folded.Contents?.map((object) => object.Key)).toEqual(['c', 'd e']);
    const under = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'a/', Delimiter: '/' }));
    expect(under.Contents?.map((object) => object.Key)).toEqual(['a/1', 'a/2']);
    expect(under.CommonPrefixes?.map((prefix) => prefix.Prefix)).toEqual(['a/b/']);
    const seen: string[] = [];
    let token: string | undefined;
    do {
      const page = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'listing', MaxKeys: 2, Delimiter: '/', ContinuationToken: token }));
      seen.push(...(page.Contents ?? []).map((object) => object.Key!), ...(page.CommonPrefixes ?? []).map((prefix) => prefix.Prefix!));
      token = page.NextContinuationToken;
      expect(page.IsTruncated).toBe(token !== undefined);
    } while (token);
    expect(seen.sort()).toEqual(['a/', 'b/', 'c', 'd e', 'z/']);
    const v1 = await alice.s3.send(new ListObjectsCommand({ Bucket: 'listing', Marker: 'b/4' }));
    expect(v1.Contents?.map((object) => object.Key)).toEqual(['c', 'd e', 'z/9']);
    const startAfter = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'listing', StartAfter: 'c' }));
    expect(startAfter.Contents?.map((object) => object.Key)).toEqual(['d e', 'z/9']);
    const encoded = await alice.s3.send(new ListObjectsV2Command({ Bucket: 'listing', Prefix: 'd', EncodingType: 'url' }));
    expect(encoded.Contents?.map((object) => object.Key)).toEqual(['d+e']);
    const versions = await alice.s3.send(new ListObjectVersionsCommand({ Bucket: 'listing', Prefix: 'a/' }));
    expect(versions.Versions?.map((version) => [version.Key, version.VersionId, version.IsLatest])).toEqual([
      ['a/1', 'null', true],
      ['a/2', 'null', true],
      ['a/b/3', 'null', true],
    ]);
  });

  it('deletes objects singly and in batches, and empty buckets only', async () => {
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'trash' }));
    for (const key of ['x', 'y', 'z']) await alice.s3.send(new PutObjectCommand({ Bucket: 'trash', Key: key, Body: key }));
    expect(await s3Failure(alice.s3.send(new DeleteBucketCommand({ Bucket: 'trash' })))).toMatchObject({ name: 'BucketNotEmpty', status: 409 });
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'trash', Key: 'x' }));
    await alice.s3.send(new DeleteObjectCommand({ Bucket: 'trash', Key: 'never-existed' }));
    expect(await s3Failure(alice.s3.send(new GetObjectCommand({ Bucket: 'trash', Key: 'x' })))).toMatchObject({ name: 'NoSuchKey', status: 404 });
    const batch = await alice.s3.send(
      new DeleteObjectsCommand({ Bucket: 'trash', Delete: { Objects: [{ Key: 'y' }, { Key: 'z' }, { Key: 'ghost' }] } }),
    );
    expect(batch.Deleted?.map((entry) => entry.Key).sort()).toEqual(['ghost', 'y', 'z']);
    expect(batch.Errors ?? []).toEqual([]);
    await alice.s3.send(new DeleteBucketCommand({ Bucket: 'trash' }));
    expect(await s3Failure(alice.s3.send(new HeadBucketCommand({ Bucket: 'trash' })))).toMatchObject({ status: 404 });
  });

  it('overwrites a key and serves the new bytes', async () => {
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'over', Body: 'first version' }));
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'over', Body: 'second' }));
    const got = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'over' }));
    expect(await got.Body!.transformToString()).toBe('second');
  });

  it('serves virtual-host-style requests', async () => {
    const vhost = ferry.client(alice.accessKeyId, alice.secretAccessKey, { virtualHost: true });
    await vhost.send(new PutObjectCommand({ Bucket: 'backups', Key: 'vhost.txt', Body: 'hello vhost' }));
    const got = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'vhost.txt' }));
    expect(await got.Body!.transformToString()).toBe('hello vhost');
  });
});
