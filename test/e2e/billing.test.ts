import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { DataSource } from 'typeorm';
import { FerryUnderTest, type TenantSession } from '../support/ferry.js';

const GiB = 2 ** 30;

/** Plans, assignments, billing runs, invoices and credit notes through the admin API and the ledger. */
describe('billing', () => {
  let ferry: FerryUnderTest;
  let db: DataSource;
  let standard: { id: string };
  let premium: { id: string };
  let a: TenantSession;
  let b: TenantSession;

  const admin = (method: string, path: string, body?: unknown) => ferry.admin(method, path, body);

  /** Usage as the gateways and the sampler record it: `gib` GiB held through every hour of [from, to). */
  async function holdStorage(tenantId: string, gib: number, from: string, to: string): Promise<void> {
    await db.query(
      `INSERT INTO ledger_usage_hourly (tenant_id, hour, logical_byte_seconds, physical_byte_seconds)
       SELECT $1, h, $2::numeric * 3600, $2::numeric * 3600 / 4 FROM generate_series($3::timestamptz, $4::timestamptz - interval '1 hour', interval '1 hour') h`,
      [tenantId, gib * GiB, from, to],
    );
  }

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({ worker: false });
    db = ferry.gateway.app.get(DataSource);
    a = await ferry.tenant('billed-a');
    b = await ferry.tenant('billed-b');
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('creates, validates, lists and changes plans', async () => {
    const body = {
      name: 'Standard',
      currency: 'USD',
      storageBasis: 'logical',
      storagePricePerGbMonth: '0.02',
      egressPricePerGb: '0.05',
      requestPricesPer1000: { write: '0.005', read: '0.0004', list: '0.005', delete: '0' },
      minimumCharge: '5.00',
    };
    const created = await admin('POST', '/admin/v1/plans', body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...body, minimumCharge: '5', freeStorageGbMonths: '0', freeRequests: { write: 0, read: 0, list: 0, delete: 0 } });
    standard = created.body;
    expect((await admin('POST', '/admin/v1/plans', body)).status).toBe(409);
    // money is never a float, a currency is ISO 4217, prices are not negative
    for (const bad of [{ storagePricePerGbMonth: 0.02 }, { currency: 'usd' }, { egressPricePerGb: '-1' }, { storageBasis: 'cheap' }, { surprise: true }]) {
      const response = await admin('POST', '/admin/v1/plans', { ...body, name: `bad-${randomUUID()}`, ...bad });
      expect(response.status, JSON.stringify(bad)).toBe(400);
      expect(response.body.type).toMatch(/ValidationFailed/);
    }
    premium = (await admin('POST', '/admin/v1/plans', { ...body, name: 'Premium', storagePricePerGbMonth: '0.04', minimumCharge: '0' })).body;
    const unused = (await admin('POST', '/admin/v1/plans', { ...body, name: 'Unused' })).body;
    const changed = await admin('PATCH', `/admin/v1/plans/${unused.id}`, { egressPricePerGb: '0.07' });
    expect(changed.body).toMatchObject({ name: 'Unused', egressPricePerGb: '0.07' });
    expect((await admin('GET', '/admin/v1/plans')).body.plans.map((plan: { name: string }) => plan.name)).toEqual(['Premium', 'Standard', 'Unused']);
    expect((await admin('DELETE', `/admin/v1/plans/${unused.id}`)).status).toBe(204);
    expect((await admin('GET', `/admin/v1/plans/${unused.id}`)).status).toBe(404);
  });

  it('puts tenants on plans from an hour on, and keeps the history', async () => {
    expect((await admin('PUT', `/admin/v1/tenants/${a.id}/plan`, { planId: standard.id, effectiveFrom: '2026-10-01T00:00:00Z' })).status).toBe(200);
    // a time within an hour means that hour
    const history = await admin('PUT', `/admin/v1/tenants/${a.id}/plan`, { planId: premium.id, effectiveFrom: '2026-10-21T05:30:00Z' });
    expect(history.body.assignments).toEqual([
      { planId: standard.id, planName: 'Standard', effectiveFrom: '2026-10-01T00:00:00.000Z', effectiveTo: '2026-10-21T05:00:00.000Z' },
      { planId: premium.id, planName: 'Premium', effectiveFrom: '2026-10-21T05:00:00.000Z', effectiveTo: null },
    ]);
    await admin('PUT', `/admin/v1/tenants/${b.id}/plan`, { planId: standard.id, effectiveFrom: '2026-10-16T00:00:00Z' });
    expect((await admin('GET', `/admin/v1/tenants/${b.id}/plan`)).body.assignments).toHaveLength(1);
    expect((await admin('PUT', `/admin/v1/tenants/${randomUUID()}/plan`, { planId: standard.id })).status).toBe(404);
    expect((await admin('PUT', `/admin/v1/tenants/${a.id}/plan`, { planId: randomUUID() })).status).toBe(404);
    expect((await admin('DELETE', `/admin/v1/plans/${standard.id}`)).status).toBe(409);
  });

  it('invoices an ended month once, prorating across the plan change', async () => {
    await holdStorage(a.id, 10, '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z');
    await holdStorage(b.id, 1, '2026-10-16T00:00:00Z', '2026-11-01T00:00:00Z');
    await db.query(`INSERT INTO ledger_usage_hourly (tenant_id, hour, egress_bytes, write_requests) VALUES ($1, '2026-10-02T10:00:00Z', $2, 0)
                    ON CONFLICT (tenant_id, hour) DO UPDATE SET egress_bytes = excluded.egress_bytes`, [a.id, 3 * GiB]);

    const run = await admin('POST', '/admin/v1/billing/runs', { period: '2026-10' });
    expect(run.status).toBe(200);
    expect(run.body.issued).toHaveLength(2);
    const issued = Object.fromEntries(run.body.issued.map((entry: { tenantId: string; total: string }) => [entry.tenantId, entry]));
    // October: 744 hours. A: 485 h of Standard (to Oct 21 05:00), 259 h of Premium, 10 GiB throughout
    //   Standard: 10 × 485/744 = 6.518817 GB-months × 0.02 = 0.13; egress 3 GB × 0.05 = 0.15;
    //             minimum 5.00 × 485/744 = 3.26 → adjustment 2.98
    //   Premium:  10 × 259/744 = 3.481183 GB-months × 0.04 = 0.14 (no minimum)
    // B: 384 h of Standard with 1 GiB: 0.516129 GB-months × 0.02 = 0.01; minimum 5.00 × 384/744 = 2.58
    expect(issued[a.id]).toMatchObject({ total: '3.40', currency: 'USD' });
    expect(issued[b.id]).toMatchObject({ total: '2.58', currency: 'USD' });

    const invoice = (await admin('GET', `/admin/v1/invoices/${issued[a.id].invoiceId}`)).body;
    expect(invoice).toMatchObject({ kind: 'invoice', tenantId: a.id, periodStart: '2026-10-01T00:00:00.000Z', periodEnd: '2026-11-01T00:00:00.000Z', corrects: null });
    expect(invoice.number).toMatch(/^INV-\d{6}$/);
    expect(invoice.lines.map((line: { unit: string; quantity: string; amount: string }) => [line.unit, line.quantity, line.amount])).toEqual([
      ['GB-month', '6.518817', '0.13'],
      ['GB', '3', '0.15'],
      ['adjustment', '1', '2.98'],
      ['GB-month', '3.481183', '0.14'],
      ['GB', '0', '0.00'],
    ]);

    // a second run issues nothing and changes nothing
    const again = await admin('POST', '/admin/v1/billing/runs', { period: '2026-10' });
    expect(again.body.issued).toEqual([]);
    expect(again.body.alreadyInvoiced.sort()).toEqual([a.id, b.id].sort());
    expect((await admin('GET', `/admin/v1/invoices/${issued[a.id].invoiceId}`)).body).toEqual(invoice);

    // the month in progress cannot be billed yet; a malformed period is a 400
    const now = new Date();
    const current = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    const open = await admin('POST', '/admin/v1/billing/runs', { period: current });
    expect(open.status).toBe(409);
    expect(open.body.type).toMatch(/BillingPeriodOpen/);
    expect((await admin('POST', '/admin/v1/billing/runs', { period: '2026-13' })).status).toBe(400);
  });

  it('exports invoices as CSV', async () => {
    const listed = (await admin('GET', `/admin/v1/invoices?tenantId=${a.id}&period=2026-10`)).body.invoices;
    expect(listed).toHaveLength(1);
    const response = await fetch(`${ferry.consoleUrl}/admin/v1/invoices/${listed[0].id}?format=csv`, { headers: { Authorization: `Bearer ${ferry.config.adminToken.reveal()}` } });
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parse(await response.text(), { columns: true }) as Record<string, string>[];
    expect(rows.map((row) => [row.number, row.lineNumber, row.amount, row.invoiceTotal])).toEqual([
      [listed[0].number, '1', '0.13', '3.40'],
      [listed[0].number, '2', '0.15', '3.40'],
      [listed[0].number, '3', '2.98', '3.40'],
      [listed[0].number, '4', '0.14', '3.40'],
      [listed[0].number, '5', '0.00', '3.40'],
    ]);
    expect(rows[0].description).toContain('Storage (logical bytes)');
  });

  it('corrects an invoice only with credit notes, never by changing it', async () => {
    const [invoice] = (await admin('GET', `/admin/v1/invoices?tenantId=${b.id}`)).body.invoices;
    const first = await admin('POST', `/admin/v1/invoices/${invoice.id}/credit-notes`, { reason: 'goodwill', amount: '1.00' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ kind: 'credit_note', corrects: invoice.id, total: '-1.00', reason: 'goodwill', currency: 'USD' });
    expect(first.body.number).toMatch(/^CN-\d{6}$/);
    expect((await admin('POST', `/admin/v1/invoices/${invoice.id}/credit-notes`, { reason: 'too much', amount: '1.59' })).status).toBe(409);
    expect((await admin('POST', `/admin/v1/invoices/${invoice.id}/credit-notes`, { reason: 'sub-cent', amount: '0.001' })).status).toBe(400);
    const rest = await admin('POST', `/admin/v1/invoices/${invoice.id}/credit-notes`, { reason: 'cancel the rest' });
    expect(rest.body.total).toBe('-1.58');
    expect((await admin('POST', `/admin/v1/invoices/${invoice.id}/credit-notes`, { reason: 'again' })).status).toBe(409);
    expect((await admin('POST', `/admin/v1/invoices/${first.body.id}/credit-notes`, { reason: 'credit a credit' })).status).toBe(400);

    const documents = (await admin('GET', `/admin/v1/invoices?tenantId=${b.id}`)).body.invoices;
    expect(documents.map((document: { kind: string; total: string }) => [document.kind, document.total])).toEqual([
      ['invoice', '2.58'],
      ['credit_note', '-1.00'],
      ['credit_note', '-1.58'],
    ]);
    // not even the database lets an issued document change
    await expect(db.query(`UPDATE ledger_invoices SET total = 0 WHERE id = $1`, [invoice.id])).rejects.toThrow(/cannot be changed/);
    await expect(db.query(`DELETE FROM ledger_invoice_lines WHERE invoice_id = $1`, [invoice.id])).rejects.toThrow(/cannot be changed/);
    expect((await admin('GET', `/admin/v1/invoices/${randomUUID()}`)).status).toBe(404);
  });

  it('shows the same hourly rows by day in the usage history', async () => {
    const history = await admin('GET', `/admin/v1/tenants/${a.id}/usage/history?from=2026-10-01T00:00:00Z&to=2026-11-01T00:00:00Z&granularity=day`);
    expect(history.body.periods).toHaveLength(31);
    expect(history.body.periods[0]).toMatchObject({ start: '2026-10-01T00:00:00.000Z', logicalByteHours: `${24 * 10 * GiB}.000` });
    expect(history.body.periods[1].egressBytes).toBe(3 * GiB);
  });
});
