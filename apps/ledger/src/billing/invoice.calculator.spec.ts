import { describe, expect, it } from 'vitest';
import type { Plan } from '@ferry/ledger-contracts';
import { calculateInvoice, minorDigits, type SegmentUsage } from './invoice.calculator.js';

const GiB = 2 ** 30;
const NOVEMBER = { start: new Date('2026-11-01T00:00:00Z'), end: new Date('2026-12-01T00:00:00Z') };
const NOVEMBER_SECONDS = 30 * 86_400;

const plan = (overrides: Partial<Plan> = {}): Plan => ({
  id: '00000000-0000-4000-8000-00000000000a',
  name: 'Standard',
  currency: 'USD',
  storageBasis: 'logical',
  storagePricePerGbMonth: '0.02',
  egressPricePerGb: '0.09',
  requestPricesPer1000: { write: '0.005', read: '0.0004', list: '0.005', delete: '0' },
  freeStorageGbMonths: '5',
  freeEgressGb: '1',
  freeRequests: { write: 0, read: 10_000, list: 0, delete: 0 },
  minimumCharge: '1',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...overrides,
});

/** `gib` GiB held for `seconds`, as the sampler integrates it (exact integers as decimal strings). */
const held = (gib: number, seconds: number) => (BigInt(gib) * BigInt(GiB) * BigInt(seconds)).toString();

const usage = (overrides: Partial<SegmentUsage> = {}): SegmentUsage => ({
  logicalByteSeconds: '0',
  physicalByteSeconds: '0',
  egressBytes: 0,
  requests: { write: 0, read: 0, list: 0, delete: 0 },
  ...overrides,
});

describe('calculateInvoice', () => {
  it('prices a whole month: storage as GB-months after the free allowance, egress, requests per 1,000', () => {
    const invoice = calculateInvoice(NOVEMBER, [
      {
        plan: plan(),
        ...NOVEMBER,
        usage: usage({
          logicalByteSeconds: held(100, NOVEMBER_SECONDS), // 100 GiB all month: 100 GB-months, 95 billable
          physicalByteSeconds: held(30, NOVEMBER_SECONDS),
          egressBytes: 11 * GiB, // 10 GB billable
          requests: { write: 123_456, read: 10_500, list: 0, delete: 7 },
        }),
      },
    ]);
    expect(invoice.lines.map((line) => [line.unit, line.quantity, line.unitPrice, line.amount])).toEqual([
      ['GB-month', '95', '0.02', '1.90'],
      ['GB', '10', '0.09', '0.90'],
      ['1,000 requests', '123.456', '0.005', '0.62'], // 0.61728 rounds up
      ['1,000 requests', '0.5', '0.0004', '0.00'], // 500 past the 10,000 free: 0.0002
      ['1,000 requests', '0.007', '0', '0.00'],
    ]);
    expect(invoice).toMatchObject({ currency: 'USD', total: '3.42' });
    expect(invoice.lines[0].description).toContain('after 5 GB-month free');
  });

  it('bills physical bytes when the plan says so', () => {
    const invoice = calculateInvoice(NOVEMBER, [
      { plan: plan({ storageBasis: 'physical', freeStorageGbMonths: '0' }), ...NOVEMBER, usage: usage({ logicalByteSeconds: held(100, NOVEMBER_SECONDS), physicalByteSeconds: held(30, NOVEMBER_SECONDS) }) },
    ]);
    expect(invoice.lines[0]).toMatchObject({ quantity: '30', amount: '0.60' });
    expect(invoice.lines[0].description).toContain('physical bytes');
  });

  it('prorates allowances and the minimum charge across a plan change mid-month', () => {
    const half = NOVEMBER_SECONDS / 2;
    const change = new Date('2026-11-16T00:00:00Z');
    const invoice = calculateInvoice(NOVEMBER, [
      { plan: plan(), start: NOVEMBER.start, end: change, usage: usage({ logicalByteSeconds: held(100, half) }) },
      {
        plan: plan({ id: '00000000-0000-4000-8000-00000000000b', name: 'Premium', storagePricePerGbMonth: '0.03', freeStorageGbMonths: '0', minimumCharge: '10' }),
        start: change,
        end: NOVEMBER.end,
        usage: usage({ logicalByteSeconds: held(100, half) }),
      },
    ]);
    expect(invoice.lines.map((line) => [line.planId?.slice(-1), line.unit, line.quantity, line.amount])).toEqual([
      ['a', 'GB-month', '47.5', '0.95'], // 50 GB-months less half of the 5 free
      ['a', 'GB', '0', '0.00'],
      ['b', 'GB-month', '50', '1.50'],
      ['b', 'GB', '0', '0.00'],
      ['b', 'adjustment', '1', '3.50'], // half of the 10.00 minimum, less the 1.50 charged
    ]);
    expect(invoice.lines[0].description).toContain('after 2.5 GB-month free');
    expect(invoice.lines[4].description).toContain('50 % of the month');
    expect(invoice.total).toBe('5.95');
  });

  it('charges the minimum when a month comes to less', () => {
    const invoice = calculateInvoice(NOVEMBER, [{ plan: plan({ minimumCharge: '4.99' }), ...NOVEMBER, usage: usage() }]);
    expect(invoice.lines.at(-1)).toMatchObject({ unit: 'adjustment', amount: '4.99' });
    expect(invoice.total).toBe('4.99');
  });

  it('rounds each line to the currency’s minor unit, half to even', () => {
    const yen = (gbMonths: number) =>
      calculateInvoice(NOVEMBER, [
        { plan: plan({ currency: 'JPY', storagePricePerGbMonth: '2.5', freeStorageGbMonths: '0', minimumCharge: '0' }), ...NOVEMBER, usage: usage({ logicalByteSeconds: held(gbMonths, NOVEMBER_SECONDS) }) },
      ]);
    expect(yen(1).lines[0].amount).toBe('2'); // 2.5 → 2
    expect(yen(3).lines[0].amount).toBe('8'); // 7.5 → 8
    expect(yen(3).total).toBe('8');
    expect([minorDigits('USD'), minorDigits('JPY'), minorDigits('BHD')]).toEqual([2, 0, 3]);
  });

  it('refuses segments in two currencies on one invoice', () => {
    expect(() =>
      calculateInvoice(NOVEMBER, [
        { plan: plan(), start: NOVEMBER.start, end: new Date('2026-11-10T00:00:00Z'), usage: usage() },
        { plan: plan({ currency: 'EUR' }), start: new Date('2026-11-10T00:00:00Z'), end: NOVEMBER.end, usage: usage() },
      ]),
    ).toThrow('one currency');
  });
});
