import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { TenantThrottle } from '../../apps/gateway/src/throttle/tenant-throttle.js';
import { eventually, FerryUnderTest, s3Failure, type TenantSession } from '../support/ferry.js';
import { objectPath, rawHttp, signRequest, type RawResponse } from '../support/faults.js';

const MiB = 1024 * 1024;
const GATEWAY_CAP = 6;

/** Per-tenant concurrency and bandwidth limits, and the fair share between tenants of a busy gateway. */
describe('tenant traffic limits', () => {
  let ferry: FerryUnderTest;

  const setLimits = async (tenant: TenantSession, limits: { maxConcurrentRequests: number | null; maxBandwidthBytesPerSecond: number | null }) => {
    const response = await ferry.admin('PUT', `/admin/v1/tenants/${tenant.id}/limits`, limits);
    expect(response.status).toBe(200);
    await ferry.gateway.app.get(TenantThrottle).refresh();
  };

  /** PUTs whose bodies stop half-way until `release` is called: requests held in progress. */
  async function hold(tenant: TenantSession, bucket: string, count: number) {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const responses: Promise<RawResponse>[] = [];
    for (let index = 0; index < count; index += 1) {
      const body = randomBytes(64 * 1024);
      const signed = await signRequest(ferry.s3Endpoint, tenant, { method: 'PUT', path: objectPath(bucket, `held-${index}`), body, payloadHash: 'UNSIGNED-PAYLOAD' });
      responses.push(rawHttp(ferry.s3Endpoint, signed, { afterBytes: 1000, during: () => released }));
    }
    const throttle = ferry.gateway.app.get(TenantThrottle);
    expect(await eventually(async () => throttle.inProgress(tenant.id) === count, 10_000, 20)).toBe(true);
    return {
      release: async () => {
        release();
        return Promise.all(responses);
      },
    };
  }

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({ worker: false, env: { FERRY_MAX_CONCURRENT_REQUESTS: String(GATEWAY_CAP) } });
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('keeps a tenant to its concurrent requests, and only that tenant', async () => {
    const limited = await ferry.tenant('two-at-once');
    const other = await ferry.tenant('unlimited-neighbour');
    await limited.s3.send(new CreateBucketCommand({ Bucket: 'limited' }));
    await other.s3.send(new CreateBucketCommand({ Bucket: 'neighbour' }));
    await setLimits(limited, { maxConcurrentRequests: 2, maxBandwidthBytesPerSecond: null });

    const held = await hold(limited, 'limited', 2);
    const refused = await limited.s3.send(new PutObjectCommand({ Bucket: 'limited', Key: 'third', Body: 'x' })).catch((error: S3ServiceException) => error);
    expect((refused as S3ServiceException).name).toBe('SlowDown');
    expect((refused as S3ServiceException).$metadata.httpStatusCode).toBe(503);
    expect((refused as S3ServiceException).message).toContain('2 requests in progress at once');
    await other.s3.send(new PutObjectCommand({ Bucket: 'neighbour', Key: 'fine', Body: 'y' }));

    expect((await held.release()).map((response) => response.status)).toEqual([200, 200]);
    await limited.s3.send(new PutObjectCommand({ Bucket: 'limited', Key: 'third', Body: 'x' }));
    expect((await ferry.admin('GET', `/admin/v1/tenants/${limited.id}/limits`)).body).toEqual({ tenantId: limited.id, maxConcurrentRequests: 2, maxBandwidthBytesPerSecond: null });
  });

  it('gives a tenant a fair share of a busy gateway, and the others still get in', async () => {
    const busy = await ferry.tenant('hogging');
    const quiet = await ferry.tenant('quiet');
    await busy.s3.send(new CreateBucketCommand({ Bucket: 'hogging' }));
    await quiet.s3.send(new CreateBucketCommand({ Bucket: 'quiet' }));
    // no limits of their own: only the gateway's cap and the fair share apply
    const held = await hold(busy, 'hogging', GATEWAY_CAP);
    expect(await s3Failure(busy.s3.send(new PutObjectCommand({ Bucket: 'hogging', Key: 'one-more', Body: 'x' })))).toEqual({ name: 'SlowDown', status: 503 });
    await quiet.s3.send(new PutObjectCommand({ Bucket: 'quiet', Key: 'gets-in', Body: 'y' }));
    expect((await held.release()).every((response) => response.status === 200)).toBe(true);
    await busy.s3.send(new PutObjectCommand({ Bucket: 'hogging', Key: 'one-more', Body: 'x' }));
  });

  it('paces a tenant’s bodies to its bandwidth, in and out', async () => {
    const slow = await ferry.tenant('one-mib-per-second');
    await slow.s3.send(new CreateBucketCommand({ Bucket: 'paced' }));
    await setLimits(slow, { maxConcurrentRequests: null, maxBandwidthBytesPerSecond: MiB });
    const body = randomBytes(2 * MiB);
    let started = performance.now();
    await slow.s3.send(new PutObjectCommand({ Bucket: 'paced', Key: 'two', Body: body }));
    // 2 MiB at 1 MiB/s with a tenth of a second of burst: at least 1.9 s
    expect(performance.now() - started).toBeGreaterThan(1800);
    started = performance.now();
    const got = await slow.s3.send(new GetObjectCommand({ Bucket: 'paced', Key: 'two' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    expect(performance.now() - started).toBeGreaterThan(1800);
    await setLimits(slow, { maxConcurrentRequests: null, maxBandwidthBytesPerSecond: null });
    expect((await ferry.admin('GET', `/admin/v1/tenants/${slow.id}/limits`)).body).toEqual({ tenantId: slow.id, maxConcurrentRequests: null, maxBandwidthBytesPerSecond: null });
  });

  it('refuses limits that make no sense', async () => {
    const t = await ferry.tenant('bad-limits');
    expect((await ferry.admin('PUT', `/admin/v1/tenants/${t.id}/limits`, { maxConcurrentRequests: 0, maxBandwidthBytesPerSecond: null })).status).toBe(400);
    expect((await ferry.admin('PUT', `/admin/v1/tenants/${t.id}/limits`, { maxConcurrentRequests: 2 })).status).toBe(400);
    expect((await ferry.admin('PUT', `/admin/v1/tenants/00000000-0000-4000-8000-000000000000/limits`, { maxConcurrentRequests: 2, maxBandwidthBytesPerSecond: null })).status).toBe(404);
  });
});
