import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ClientProxyFactory, type ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import pg from 'pg';
import type { ResolvedConfig } from '@ferry/config';
import { freshDatabase, removeTestData, testConfig } from '@ferry/testing';
import { flushQueueKeys } from '../support/faults.js';
import { LedgerPattern, type LedgerInput, type LedgerReplies } from '@ferry/ledger-contracts';
import { createLedger, ledgerTransport, type LedgerServer } from '../../apps/ledger/src/ledger.app.js';
import { AlertNotifier } from '../../apps/ledger/src/quota/alert.notifier.js';

const MiB = 1024 * 1024;

describe('ledger microservice (TCP transport, real Postgres)', () => {
  let ledger: LedgerServer;
  let client: ClientProxy;
  let db: pg.Client;
  let config: ResolvedConfig;
  let drop: () => Promise<void>;
  let webhook: Server;
  const delivered: unknown[] = [];

  const send = <P extends LedgerPattern>(pattern: P, payload: LedgerInput<P>): Promise<LedgerReplies[P]> =>
    firstValueFrom(client.send<LedgerReplies[P]>(pattern, payload));

  /** A catalog tenant row, as the console creates it (its usage counter row comes from the trigger). */
  async function tenant(quotaBytes: number): Promise<string> {
    const id = randomUUID();
    await db.query(`INSERT INTO tenants (id, name, quota_bytes, container) VALUES ($1, $2, $3, $4)`, [id, `t-${id}`, quotaBytes, `c-${id}`]);
    return id;
  }

  beforeAll(async () => {
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        delivered.push(JSON.parse(body));
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    const fresh = await freshDatabase();
    drop = fresh.drop;
    config = await testConfig(fresh.url, inject('azurite'), {
      FERRY_ALERT_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/alerts`,
    });
    ledger = await createLedger(config);
    config.ledger.port = await ledger.listen();
    client = ClientProxyFactory.create(ledgerTransport(config) as never) as unknown as ClientProxy;
    await client.connect();
    db = new pg.Client({ connectionString: fresh.url });
    await db.connect();
  });

  afterAll(async () => {
    await client?.close();
    await ledger?.close();
    await db?.end();
    await drop?.();
    webhook?.close();
    if (config) {
      // the Redis server outlives the run: leave none of this file's jobs (tenant records) behind
      await flushQueueKeys(config);
      await removeTestData(config);
    }
  });

  it('answers a ping with its database state', async () => {
    const reply = await send(LedgerPattern.Ping, { from: 'test' });
    expect(reply).toMatchObject({ ok: true, database: 'up' });
    expect(Number.isNaN(Date.parse(reply.at))).toBe(false);
  });

  it('rejects an invalid payload with a domain error, not a crash', async () => {
    await expect(firstValueFrom(client.send(LedgerPattern.Ping, { from: '', extra: 1 }))).rejects.toMatchObject({ code: 'ValidationFailed' });
    await expect(firstValueFrom(client.send(LedgerPattern.Reserve, { tenantId: 'nope', reservationId: randomUUID(), bytes: -1, holder: 'x' }))).rejects.toMatchObject({
      code: 'ValidationFailed',
    });
    await expect(send(LedgerPattern.Reserve, { tenantId: randomUUID(), reservationId: randomUUID(), bytes: 1, holder: 'x' })).rejects.toMatchObject({
      code: 'TenantNotFound',
    });
    expect((await send(LedgerPattern.Ping, { from: 'still-alive' })).ok).toBe(true);
  });

  it('grants exactly what fits when 64 reservations race for the last bytes', async () => {
    const tenantId = await tenant(10 * MiB);
    const replies = await Promise.all(
      Array.from({ length: 64 }, () => send(LedgerPattern.Reserve, { tenantId, reservationId: randomUUID(), bytes: MiB, holder: 'race' })),
    );
    expect(replies.filter((reply) => reply.granted)).toHaveLength(10);
    expect(replies.filter((reply) => !reply.granted).every((reply) => reply.keptBytes + reply.reservedBytes + MiB > reply.quotaBytes)).toBe(true);
    expect(await send(LedgerPattern.QuotaStatus, { tenantId })).toEqual({ quotaBytes: 10 * MiB, keptBytes: 0, reservedBytes: 10 * MiB });
  });

  it('counts kept bytes from the catalog and reserved bytes until release; a retried reserve is granted once', async () => {
    const tenantId = await tenant(4 * MiB);
    await db.query(`UPDATE tenant_usage SET kept_bytes = $2 WHERE tenant_id = $1`, [tenantId, 3 * MiB]);
    const id = randomUUID();
    expect((await send(LedgerPattern.Reserve, { tenantId, reservationId: id, bytes: MiB, holder: 'h' })).granted).toBe(true);
    // the same message again (a client retry) neither doubles the hold nor is refused
    expect((await send(LedgerPattern.Reserve, { tenantId, reservationId: id, bytes: MiB, holder: 'h' })).granted).toBe(true);
    expect((await send(LedgerPattern.QuotaStatus, { tenantId })).reservedBytes).toBe(MiB);
    expect((await send(LedgerPattern.Reserve, { tenantId, reservationId: randomUUID(), bytes: 1, holder: 'h' })).granted).toBe(false);
    // another tenant's release names the id but changes nothing
    const other = await tenant(MiB);
    expect((await send(LedgerPattern.Release, { tenantId: other, reservationIds: [id] })).released).toBe(0);
    expect((await send(LedgerPattern.Release, { tenantId, reservationIds: [id] })).released).toBe(1);
    expect((await send(LedgerPattern.Reserve, { tenantId, reservationId: randomUUID(), bytes: MiB, holder: 'h' })).granted).toBe(true);
  });

  it('lets lapsed reservations go, and renews only the holder’s own', async () => {
    const tenantId = await tenant(2 * MiB);
    const mine = randomUUID();
    const theirs = randomUUID();
    await send(LedgerPattern.Reserve, { tenantId, reservationId: mine, bytes: MiB, holder: 'gateway-a' });
    await send(LedgerPattern.Reserve, { tenantId, reservationId: theirs, bytes: MiB, holder: 'gateway-b' });
    expect((await send(LedgerPattern.Renew, { holder: 'gateway-a', reservationIds: [mine, theirs] })).renewed).toBe(1);
    // gateway-b crashed: its reservation's lease runs out (moved into the past rather than waited for)
    await db.query(`UPDATE ledger_reservations SET expires_at = now() - interval '1 second' WHERE id = $1`, [theirs]);
    expect(await send(LedgerPattern.QuotaStatus, { tenantId })).toMatchObject({ reservedBytes: MiB });
    expect((await send(LedgerPattern.Reserve, { tenantId, reservationId: randomUUID(), bytes: MiB, holder: 'gateway-a' })).granted).toBe(true);
  });

  it('raises each soft-quota alert once, delivers it to the webhook, and clears it when usage falls', async () => {
    const tenantId = await tenant(100 * MiB);
    const reserve = (bytes: number) => send(LedgerPattern.Reserve, { tenantId, reservationId: randomUUID(), bytes, holder: 'h' });
    await reserve(50 * MiB);
    expect((await send(LedgerPattern.ListAlerts, { tenantId })).alerts).toEqual([]);
    await reserve(31 * MiB); // 81 %
    await reserve(MiB); // still 80 %, no second alert
    let alerts = (await send(LedgerPattern.ListAlerts, { tenantId })).alerts;
    expect(alerts.map((alert) => alert.thresholdPercent)).toEqual([80]);
    expect(await reserve(20 * MiB)).toMatchObject({ granted: false }); // refused at the limit: 95 % reached too
    alerts = (await send(LedgerPattern.ListAlerts, { tenantId })).alerts;
    expect(alerts.map((alert) => alert.thresholdPercent).sort()).toEqual([80, 95]);

    const notifier = ledger.app.get(AlertNotifier);
    await notifier.sweep();
    const mine = delivered.filter((alert) => (alert as { tenantId: string }).tenantId === tenantId);
    expect(mine).toHaveLength(2);
    expect(mine[0]).toMatchObject({ type: 'quota.threshold', quotaBytes: 100 * MiB });

    // reservations alone do not keep an alert open: kept bytes (zero here) decide
    await notifier.sweep();
    alerts = (await send(LedgerPattern.ListAlerts, { tenantId })).alerts;
    expect(alerts.every((alert) => alert.clearedAt !== null && alert.notifiedAt !== null)).toBe(true);
  });
});
