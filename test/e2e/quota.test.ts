import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { eventually, FerryUnderTest, listKeys, s3Failure, type TenantSession } from '../support/ferry.js';
import { objectPath, rawHttp, signRequest, spoolFiles } from '../support/faults.js';
import { awsEnv, run, Workspace, writeRandomFile } from '../support/clients.js';

const MiB = 1024 * 1024;
const AWS = '/usr/bin/aws';

/** Real-time hard quotas: the gateway reserves through the ledger before it reads a body. */
describe('quotas enforced by the gateway through the ledger', () => {
  let ferry: FerryUnderTest;
  let ledger: LedgerClient;

  const usage = async (tenant: TenantSession) => (await ferry.admin('GET', `/admin/v1/tenants/${tenant.id}/usage`)).body as { quotaUsedBytes: number; logicalBytes: number };
  const reserved = async (tenant: TenantSession) => (await ledger.send(LedgerPattern.QuotaStatus, { tenantId: tenant.id })).reservedBytes;
  const put = (s3: S3Client, Bucket: string, Key: string, Body: Buffer) => s3.send(new PutObjectCommand({ Bucket, Key, Body }));

  beforeAll(async () => {
    // a short reservation lease, so the test of a gateway's lost releases does not wait two minutes
    ferry = await FerryUnderTest.start({ worker: false, env: { FERRY_RESERVATION_TTL_SECONDS: '10' } });
    ledger = ferry.gateway.app.get(LedgerClient);
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('lets 64 uploads racing for the last 10 MiB never pass the quota', async () => {
    const t = await ferry.tenant('racer', 10 * MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'race' }));
    const bodies = Array.from({ length: 64 }, () => randomBytes(MiB));
    const outcomes = await Promise.allSettled(bodies.map((body, index) => put(t.s3, 'race', `object-${index}`, body)));
    const accepted = outcomes.filter((outcome) => outcome.status === 'fulfilled').length;
    const refused = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason as S3ServiceException] : []));
    expect(refused.every((error) => error.name === 'QuotaExceeded' && error.$metadata.httpStatusCode === 403)).toBe(true);
    // a committed upload counts twice until its release lands, so a race may refuse early, never late
    expect(accepted).toBeGreaterThanOrEqual(8);
    expect(accepted).toBeLessThanOrEqual(10);
    expect(await listKeys(t.s3, 'race')).toHaveLength(accepted);
    expect((await usage(t)).quotaUsedBytes).toBe(accepted * MiB);
    expect(await reserved(t)).toBe(0);
    // the room left is usable to the byte, and not one byte more
    const room = 10 * MiB - accepted * MiB;
    if (room > 0) await put(t.s3, 'race', 'the-rest', randomBytes(room));
    expect(await s3Failure(put(t.s3, 'race', 'one-byte', Buffer.from('x')))).toEqual({ name: 'QuotaExceeded', status: 403 });
    // refused bodies left nothing behind in the spool
    expect(await spoolFiles(`${ferry.config.spoolDir}/${t.id}`)).toHaveLength(accepted + (room > 0 ? 1 : 0));
  });

  it('enforces the quota for PutObject, CopyObject, UploadPart, UploadPartCopy and CompleteMultipartUpload', async () => {
    const t = await ferry.tenant('every-op', 11.5 * MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'ops' }));
    await put(t.s3, 'ops', 'six', randomBytes(6 * MiB));

    const tooBig = await t.s3
      .send(new PutObjectCommand({ Bucket: 'ops', Key: 'big', Body: randomBytes(6 * MiB) }))
      .then(() => undefined, (error: S3ServiceException) => error);
    expect(tooBig?.name).toBe('QuotaExceeded');
    expect(tooBig?.message).toMatch(/Quota exceeded: this request needs 6291456 more bytes.*12058624-byte quota/);
    expect(await s3Failure(t.s3.send(new HeadObjectCommand({ Bucket: 'ops', Key: 'big' })))).toMatchObject({ status: 404 });

    // a copy shares its source's chunks in Blob, but it is 6 MiB more that the tenant keeps
    expect(await s3Failure(t.s3.send(new CopyObjectCommand({ Bucket: 'ops', Key: 'copy', CopySource: 'ops/six' })))).toEqual({ name: 'QuotaExceeded', status: 403 });

    const upload = await t.s3.send(new CreateMultipartUploadCommand({ Bucket: 'ops', Key: 'multi' }));
    const part = (PartNumber: number, Body: Buffer) => t.s3.send(new UploadPartCommand({ Bucket: 'ops', Key: 'multi', UploadId: upload.UploadId, PartNumber, Body }));
    expect(await s3Failure(part(1, randomBytes(6 * MiB)))).toEqual({ name: 'QuotaExceeded', status: 403 });
    const first = await part(1, randomBytes(5 * MiB));
    // parts count as soon as they are stored
    expect((await usage(t)).quotaUsedBytes).toBe(11 * MiB);
    const copyPart = (range: string) =>
      t.s3.send(new UploadPartCopyCommand({ Bucket: 'ops', Key: 'multi', UploadId: upload.UploadId, PartNumber: 2, CopySource: 'ops/six', CopySourceRange: range }));
    expect(await s3Failure(copyPart(`bytes=0-${MiB - 1}`))).toEqual({ name: 'QuotaExceeded', status: 403 });
    const second = await copyPart(`bytes=0-${MiB / 4 - 1}`);
    expect((await usage(t)).quotaUsedBytes).toBe(11.25 * MiB);

    // the operator lowers the quota under what the tenant keeps: completing is refused ...
    expect((await ferry.admin('PATCH', `/admin/v1/tenants/${t.id}`, { quotaBytes: 6 * MiB })).status).toBe(200);
    const complete = () =>
      t.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: 'ops',
          Key: 'multi',
          UploadId: upload.UploadId,
          MultipartUpload: { Parts: [{ PartNumber: 1, ETag: first.ETag }, { PartNumber: 2, ETag: second.CopyPartResult!.ETag }] },
        }),
      );
    expect(await s3Failure(complete())).toEqual({ name: 'QuotaExceeded', status: 403 });
    // ... while reads, listings and deletes still work over quota
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'ops', Key: 'six' }));
    expect((await got.Body!.transformToByteArray()).length).toBe(6 * MiB);
    expect((await t.s3.send(new ListObjectsV2Command({ Bucket: 'ops' }))).KeyCount).toBe(1);
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'ops', Key: 'six' }));
    // back under the quota (5.25 MiB of parts kept), the upload completes into an object of the same bytes
    const done = await complete();
    expect(done.ETag).toMatch(/-2"$/);
    expect((await usage(t)).quotaUsedBytes).toBe(5.25 * MiB);
    expect(await reserved(t)).toBe(0);
  });

  it('reserves as it goes for a body of unknown length, and stops it at the quota', async () => {
    const t = await ferry.tenant('streamer', MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'streams' }));
    const send = async (key: string, body: Buffer) => {
      const signed = await signRequest(ferry.s3Endpoint, t, { method: 'PUT', path: objectPath('streams', key), body, payloadHash: 'UNSIGNED-PAYLOAD', contentLength: null });
      return rawHttp(ferry.s3Endpoint, { ...signed, headers: { ...signed.headers, 'transfer-encoding': 'chunked' } });
    };
    expect((await send('fits.bin', randomBytes(MiB - 1000))).status).toBe(200);
    const over = await send('over.bin', randomBytes(300_000));
    expect(over.status).toBe(403);
    expect(over.text).toContain('<Code>QuotaExceeded</Code>');
    expect(await listKeys(t.s3, 'streams')).toEqual(['fits.bin']);
    expect((await usage(t)).quotaUsedBytes).toBe(MiB - 1000);
    expect(await reserved(t)).toBe(0);
  });

  it('keeps one tenant’s usage out of another’s quota', async () => {
    const a = await ferry.tenant('quota-a', 2 * MiB);
    const b = await ferry.tenant('quota-b', 2 * MiB);
    await a.s3.send(new CreateBucketCommand({ Bucket: 'a-data' }));
    await b.s3.send(new CreateBucketCommand({ Bucket: 'b-data' }));
    await put(a.s3, 'a-data', 'full', randomBytes(2 * MiB));
    expect(await s3Failure(put(a.s3, 'a-data', 'more', Buffer.from('x')))).toEqual({ name: 'QuotaExceeded', status: 403 });
    await put(b.s3, 'b-data', 'full', randomBytes(2 * MiB));
    expect((await usage(a)).quotaUsedBytes).toBe(2 * MiB);
    expect((await usage(b)).quotaUsedBytes).toBe(2 * MiB);
  });

  it('raises soft-quota alerts at 80 % and 95 % for the operator', async () => {
    const t = await ferry.tenant('alerted', 10 * MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'fill' }));
    await put(t.s3, 'fill', 'seven', randomBytes(7 * MiB));
    expect((await ferry.admin('GET', `/admin/v1/tenants/${t.id}/alerts`)).body.alerts).toEqual([]);
    await put(t.s3, 'fill', 'one-more', randomBytes(MiB + MiB / 2)); // 8.5 MiB reserved: 85 %
    const alerts = (await ferry.admin('GET', `/admin/v1/tenants/${t.id}/alerts`)).body.alerts as { thresholdPercent: number; quotaBytes: number }[];
    expect(alerts.map((alert) => alert.thresholdPercent)).toEqual([80]);
    expect(alerts[0].quotaBytes).toBe(10 * MiB);
  });

  it('refuses writes of a tenant whose lease ended and, if the operator says so, its reads', async () => {
    const t = await ferry.tenant('leased');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'lease' }));
    await put(t.s3, 'lease', 'kept', Buffer.from('restore me'));
    const past = new Date(Date.now() - 60_000).toISOString();
    const patched = await ferry.admin('PATCH', `/admin/v1/tenants/${t.id}`, { leaseExpiresAt: past });
    expect(patched.body).toMatchObject({ leaseExpiresAt: past, blockReads: false, status: 'active' });
    const refused = await t.s3.send(new PutObjectCommand({ Bucket: 'lease', Key: 'new', Body: 'x' })).catch((error: S3ServiceException) => error);
    expect((refused as S3ServiceException).name).toBe('AccessDenied');
    expect((refused as S3ServiceException).message).toContain('service lease ended');
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'lease', Key: 'kept' }));
    expect(await got.Body!.transformToString()).toBe('restore me');
    await ferry.admin('PATCH', `/admin/v1/tenants/${t.id}`, { blockReads: true });
    expect(await s3Failure(t.s3.send(new GetObjectCommand({ Bucket: 'lease', Key: 'kept' })))).toEqual({ name: 'AccessDenied', status: 403 });
    await ferry.admin('PATCH', `/admin/v1/tenants/${t.id}`, { leaseExpiresAt: null });
    await put(t.s3, 'lease', 'new', Buffer.from('renewed'));
    expect((await ferry.admin('PATCH', `/admin/v1/tenants/${t.id}`, { leaseExpiresAt: 'next tuesday' })).status).toBe(400);
  });

  it('answers QuotaExceeded to the AWS CLI', async () => {
    const t = await ferry.tenant('cli-quota', MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'cli' }));
    const ws = await Workspace.create('aws-quota');
    try {
      await writeRandomFile(ws.path('big.bin'), 2 * MiB);
      const failed = await run(AWS, ['--endpoint-url', ferry.s3Endpoint, 's3api', 'put-object', '--bucket', 'cli', '--key', 'big.bin', '--body', ws.path('big.bin')], {
        env: awsEnv(ws, t),
        cwd: ws.root,
      }).then(
        () => undefined,
        (error: Error & { stderr?: string }) => error,
      );
      expect(failed?.stderr).toMatch(/\(QuotaExceeded\) when calling the PutObject operation.*: Quota exceeded: this request needs 2097152 more bytes/);
    } finally {
      await ws.remove();
    }
  });

  it('refuses writes with 503 SlowDown while the ledger is down, keeps serving reads, and loses nothing', async () => {
    const t = await ferry.tenant('ledger-outage', 100 * MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'outage' }));
    const before = randomBytes(MiB);
    await put(t.s3, 'outage', 'before', before);

    await ferry.stopLedger();
    const refused = await t.s3.send(new PutObjectCommand({ Bucket: 'outage', Key: 'during', Body: randomBytes(1000) })).catch((error: S3ServiceException) => error);
    expect(refused).toBeInstanceOf(S3ServiceException);
    expect((refused as S3ServiceException).name).toBe('SlowDown');
    expect((refused as S3ServiceException).$metadata.httpStatusCode).toBe(503);
    expect((refused as S3ServiceException).$response?.headers['retry-after']).toBe('5');
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'outage', Key: 'before' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(before)).toBe(true);
    expect(await listKeys(t.s3, 'outage')).toEqual(['before']);

    await ferry.startLedger();
    await put(t.s3, 'outage', 'after', randomBytes(MiB));
    expect(await listKeys(t.s3, 'outage')).toEqual(['after', 'before']);
    expect((await usage(t)).quotaUsedBytes).toBe(2 * MiB);
    expect(await reserved(t)).toBe(0);
  });

  it('lets the reservations of an upload whose release was lost lapse', async () => {
    const t = await ferry.tenant('lost-release', 10 * MiB);
    await t.s3.send(new CreateBucketCommand({ Bucket: 'lapse' }));
    // the ledger stops while a body is on its way: the upload still completes (its reservation was
    // granted), but its release cannot reach the ledger
    const body = randomBytes(4 * MiB);
    const signed = await signRequest(ferry.s3Endpoint, t, { method: 'PUT', path: objectPath('lapse', 'slow.bin'), body, payloadHash: 'UNSIGNED-PAYLOAD' });
    const uploading = rawHttp(ferry.s3Endpoint, signed, {
      afterBytes: MiB,
      during: async () => {
        // the gateway has reserved the whole body before reading it
        expect(await eventually(async () => (await reserved(t)) === 4 * MiB, 10_000, 20)).toBe(true);
        await ferry.stopLedger();
      },
    });
    expect((await uploading).status).toBe(200);
    await ferry.startLedger();
    // counted twice for now (kept and still reserved): refused early, never overshooting
    expect(await reserved(t)).toBe(4 * MiB);
    expect(await s3Failure(put(t.s3, 'lapse', 'big', randomBytes(5 * MiB)))).toEqual({ name: 'QuotaExceeded', status: 403 });
    expect(await eventually(async () => (await reserved(t)) === 0, 20_000, 500)).toBe(true);
    await put(t.s3, 'lapse', 'big', randomBytes(5 * MiB));
    expect((await usage(t)).quotaUsedBytes).toBe(9 * MiB);
  });
});
