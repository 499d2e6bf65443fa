import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { LedgerClient, LedgerPattern, type UsagePeriod } from '@ferry/ledger-contracts';
import { MeterSampler } from '../../apps/ledger/src/metering/meter.sampler.js';
import { UsageMeter } from '../../apps/gateway/src/metering/usage.meter.js';
import { FerryUnderTest, s3Failure, type TenantSession } from '../support/ferry.js';

const MiB = 1024 * 1024;

interface Totals {
  ingressBytes: number;
  egressBytes: number;
  requests: Record<'write' | 'read' | 'list' | 'delete', number>;
}

/** Metering: requests, traffic and stored byte-hours per tenant and hour, each counted once. */
describe('metering through the ledger', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;

  const history = async (tenant: TenantSession, granularity: 'hour' | 'day' = 'hour') => {
    const response = await ferry.admin('GET', `/admin/v1/tenants/${tenant.id}/usage/history?granularity=${granularity}`);
    expect(response.status).toBe(200);
    return response.body as { granularity: string; periods: UsagePeriod[] };
  };
  const totals = async (tenant: TenantSession): Promise<Totals> => {
    const sum: Totals = { ingressBytes: 0, egressBytes: 0, requests: { write: 0, read: 0, list: 0, delete: 0 } };
    for (const period of (await history(tenant)).periods) {
      sum.ingressBytes += period.ingressBytes;
      sum.egressBytes += period.egressBytes;
      for (const key of Object.keys(sum.requests) as (keyof Totals['requests'])[]) sum.requests[key] += period.requests[key];
    }
    return sum;
  };
  const flush = () => ferry.gateway.app.get(UsageMeter).flush();

  beforeAll(async () => {
    // a long flush interval: the test flushes when it wants to, so counts land where it expects
    ferry = await FerryUnderTest.start({ worker: false, env: { FERRY_METER_FLUSH_SECONDS: '3600', FERRY_METER_SAMPLE_SECONDS: '3600' } });
    db = ferry.gateway.app.get(DataSource);
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('counts requests by class, bytes in and bytes out, per tenant', async () => {
    const t = await ferry.tenant('metered');
    const other = await ferry.tenant('metered-other');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'meter' }));
    for (const key of ['a', 'b', 'c']) await t.s3.send(new PutObjectCommand({ Bucket: 'meter', Key: key, Body: randomBytes(MiB) }));
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'meter', Key: 'a', Range: 'bytes=0-999' }));
    expect((await got.Body!.transformToByteArray()).length).toBe(1000);
    expect(await s3Failure(t.s3.send(new HeadObjectCommand({ Bucket: 'meter', Key: 'missing' })))).toMatchObject({ status: 404 });
    await t.s3.send(new ListObjectsV2Command({ Bucket: 'meter' }));
    await t.s3.send(new DeleteObjectCommand({ Bucket: 'meter', Key: 'c' }));
    await flush();

    expect(await totals(t)).toEqual({ ingressBytes: 3 * MiB, egressBytes: 1000, requests: { write: 4, read: 2, list: 1, delete: 1 } });
    expect(await totals(other)).toEqual({ ingressBytes: 0, egressBytes: 0, requests: { write: 0, read: 0, list: 0, delete: 0 } });
    const day = await history(t, 'day');
    expect(day.periods).toHaveLength(1);
    expect(day.periods[0].start).toBe(new Date(Math.floor(Date.now() / 86_400_000) * 86_400_000).toISOString());
  });

  it('counts a batch once however often it is delivered', async () => {
    const t = await ferry.tenant('retried');
    const ledger = ferry.gateway.app.get(LedgerClient);
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const batch = {
      batchId: `test/${randomUUID()}`,
      entries: [{ tenantId: t.id, hour, ingressBytes: 5, egressBytes: 7, requests: { write: 1, read: 2, list: 3, delete: 4 } }],
    };
    expect(await ledger.send(LedgerPattern.RecordUsage, batch)).toEqual({ counted: true });
    expect(await ledger.send(LedgerPattern.RecordUsage, batch)).toEqual({ counted: false });
    expect(await totals(t)).toEqual({ ingressBytes: 5, egressBytes: 7, requests: { write: 1, read: 2, list: 3, delete: 4 } });
    await expect(ledger.send(LedgerPattern.RecordUsage, { ...batch, batchId: 'x', entries: [{ ...batch.entries[0], hour: new Date().toISOString().replace(/:00\./, ':01.') }] })).rejects.toMatchObject({
      code: 'ValidationFailed',
    });
  });

  it('keeps counting while the ledger is down and delivers the counts once when it is back', async () => {
    const t = await ferry.tenant('outage-meter');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'kept' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'kept', Key: 'k', Body: Buffer.from('hello') }));
    await flush();
    const before = await totals(t);

    await ferry.stopLedger();
    for (let i = 0; i < 3; i += 1) {
      const got = await t.s3.send(new GetObjectCommand({ Bucket: 'kept', Key: 'k' }));
      expect(await got.Body!.transformToString()).toBe('hello');
    }
    await flush(); // fails: the batch waits
    await flush(); // and again, under the same id
    await ferry.startLedger();
    await flush();
    await flush(); // nothing left to send
    const after = await totals(t);
    expect(after.requests.read - before.requests.read).toBe(3);
    expect(after.egressBytes - before.egressBytes).toBe(15);
  });

  it('integrates stored bytes into byte-hours between samples', async () => {
    const t = await ferry.tenant('byte-hours');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'stored' }));
    await t.s3.send(new PutObjectCommand({ Bucket: 'stored', Key: 'two', Body: randomBytes(2 * MiB) }));
    const sampler = ferry.ledger!.app.get(MeterSampler);
    const sampledAt = async () =>
      ((await db.query(`SELECT sampled_at FROM ledger_meter_state WHERE tenant_id = $1`, [t.id])) as { sampled_at: Date }[])[0].sampled_at;
    await sampler.sample();
    const first = await sampledAt();
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await sampler.sample();
    const second = await sampledAt();
    const [row] = (await db.query(`SELECT sum(logical_byte_seconds)::text AS s FROM ledger_usage_hourly WHERE tenant_id = $1`, [t.id])) as { s: string }[];
    // 2 MiB held for exactly the time between the two samples (split across hours if one ended);
    // JavaScript dates keep milliseconds of Postgres's microseconds, hence the tolerance
    const seconds = (second.getTime() - first.getTime()) / 1000;
    expect(Math.abs(Number(row.s) - 2 * MiB * seconds)).toBeLessThan(2 * MiB * 0.002);
    const periods = (await history(t)).periods;
    const byteHours = periods.reduce((sum, period) => sum + Number(period.logicalByteHours), 0);
    // the history shows the same integral in byte-hours, to the thousandth
    expect(Math.abs(byteHours - Number(row.s) / 3600)).toBeLessThan(0.002);
    expect(periods.every((period) => period.physicalByteHours === '0.000')).toBe(true); // no worker: nothing in Blob yet
  });

  it('answers usage history queries it cannot serve with problems', async () => {
    const t = await ferry.tenant('bad-history');
    expect((await ferry.admin('GET', `/admin/v1/tenants/${t.id}/usage/history?granularity=week`)).status).toBe(400);
    expect((await ferry.admin('GET', `/admin/v1/tenants/${t.id}/usage/history?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z`)).status).toBe(400);
    expect((await ferry.admin('GET', `/admin/v1/tenants/${randomUUID()}/usage/history`)).status).toBe(404);
    await ferry.stopLedger();
    try {
      expect((await ferry.admin('GET', `/admin/v1/tenants/${t.id}/usage/history`)).status).toBe(503);
    } finally {
      await ferry.startLedger();
    }
  });
});
