import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ClientProxyFactory, type ClientProxy } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { firstValueFrom } from 'rxjs';
import { freshDatabase, testConfig } from '@ferry/testing';
import { LedgerPattern } from '@ferry/ledger-contracts';
import { createLedger, ledgerTransport } from '../../apps/ledger/src/ledger.app.js';

describe('ledger microservice (Redis transport)', () => {
  let ledger: INestMicroservice;
  let client: ClientProxy;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const db = await freshDatabase();
    drop = db.drop;
    const config = await testConfig(db.url, inject('azurite'));
    ledger = await createLedger(config);
    await ledger.listen();
    client = ClientProxyFactory.create(ledgerTransport(config) as never) as unknown as ClientProxy;
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await ledger?.close();
    await drop?.();
  });

  it('answers a ping with its database state', async () => {
    const reply = await firstValueFrom(client.send(LedgerPattern.Ping, { from: 'test' }));
    expect(reply).toMatchObject({ ok: true, database: 'up' });
    expect(Number.isNaN(Date.parse(reply.at))).toBe(false);
  });

  it('rejects an invalid payload with a domain error, not a crash', async () => {
    await expect(firstValueFrom(client.send(LedgerPattern.Ping, { from: '', extra: 1 }))).rejects.toMatchObject({
      code: 'ValidationFailed',
    });
    const reply = await firstValueFrom(client.send(LedgerPattern.Ping, { from: 'still-alive' }));
    expect(reply.ok).toBe(true);
  });
});
