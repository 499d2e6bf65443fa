import { Decimal } from 'decimal.js';
import { REQUEST_CLASSES, type Plan, type RequestClass } from '@ferry/ledger-contracts';

/** GB in prices means 2^30 bytes, as in the cloud providers' own price lists. */
const GB = new Decimal(2).pow(30);

/** Money and quantities never touch a float: decimal.js, rounded once per line. */
const D = Decimal.clone({ precision: 40, rounding: Decimal.ROUND_HALF_EVEN });

/** Metered usage of one tenant over one stretch of time. */
export interface SegmentUsage {
  logicalByteSeconds: string;
  physicalByteSeconds: string;
  egressBytes: number;
  requests: Record<RequestClass, number>;
}

/** A stretch of the period under one plan. */
export interface Segment {
  plan: Plan;
  start: Date;
  end: Date;
  usage: SegmentUsage;
}

export interface CalculatedLine {
  description: string;
  planId: string | null;
  quantity: string;
  unit: string;
  unitPrice: string;
  amount: string;
}

export interface CalculatedInvoice {
  currency: string;
  lines: CalculatedLine[];
  total: string;
}

/** Digits after the point in a currency's minor unit (USD 2, JPY 0, BHD 3), from the platform's ICU data. */
export function minorDigits(currency: string): number {
  return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
}

/**
 * One invoice for a period from the segments of it each plan covered. Usage is priced under the plan
 * in force when it happened; free allowances and the minimum charge are monthly, so each segment
 * gets the share of them its length is of the period (proration). Each line is rounded to the
 * currency's minor unit, half to even; the total is the sum of the rounded lines.
 */
export function calculateInvoice(period: { start: Date; end: Date }, segments: Segment[]): CalculatedInvoice {
  if (segments.length === 0) throw new Error('an invoice needs at least one plan segment');
  const currency = segments[0].plan.currency;
  if (segments.some((segment) => segment.plan.currency !== currency)) throw new Error('one invoice has one currency');
  const digits = minorDigits(currency);
  const money = (value: Decimal) => value.toDecimalPlaces(digits, Decimal.ROUND_HALF_EVEN);
  const periodSeconds = new D(period.end.getTime() - period.start.getTime()).div(1000);
  const lines: CalculatedLine[] = [];

  for (const segment of segments) {
    const plan = segment.plan;
    const share = new D(segment.end.getTime() - segment.start.getTime()).div(1000).div(periodSeconds);
    const span = `${day(segment.start)} to ${day(segment.end)}`;
    const partial = share.lessThan(1) ? ` (${share.times(100).toDecimalPlaces(2)} % of the month)` : '';
    const segmentLines: CalculatedLine[] = [];
    const add = (description: string, quantity: Decimal, unit: string, unitPrice: string) => {
      segmentLines.push({
        description: `${description}, ${plan.name}, ${span}`,
        planId: plan.id,
        quantity: quantity.toDecimalPlaces(6, Decimal.ROUND_HALF_EVEN).toFixed(),
        unit,
        unitPrice,
        amount: money(quantity.times(unitPrice)).toFixed(digits),
      });
    };

    const byteSeconds = plan.storageBasis === 'logical' ? segment.usage.logicalByteSeconds : segment.usage.physicalByteSeconds;
    const gbMonths = new D(byteSeconds).div(GB).div(periodSeconds);
    const freeStorage = new D(plan.freeStorageGbMonths).times(share);
    add(`Storage (${plan.storageBasis} bytes), after ${freeStorage.toDecimalPlaces(6).toFixed()} GB-month free`, D.max(0, gbMonths.minus(freeStorage)), 'GB-month', plan.storagePricePerGbMonth);

    const egressGb = new D(segment.usage.egressBytes).div(GB);
    const freeEgress = new D(plan.freeEgressGb).times(share);
    add(`Egress, after ${freeEgress.toDecimalPlaces(6).toFixed()} GB free`, D.max(0, egressGb.minus(freeEgress)), 'GB', plan.egressPricePerGb);

    for (const requestClass of REQUEST_CLASSES) {
      const count = segment.usage.requests[requestClass];
      if (count === 0) continue;
      const free = new D(plan.freeRequests[requestClass]).times(share).floor();
      add(`${requestClass[0].toUpperCase()}${requestClass.slice(1)} requests, after ${free.toFixed()} free`, D.max(0, new D(count).minus(free)).div(1000), '1,000 requests', plan.requestPricesPer1000[requestClass]);
    }

    const charged = segmentLines.reduce((sum, line) => sum.plus(line.amount), new D(0));
    const minimum = money(new D(plan.minimumCharge).times(share));
    if (charged.lessThan(minimum)) {
      segmentLines.push({
        description: `Minimum charge${partial}, ${plan.name}, ${span}`,
        planId: plan.id,
        quantity: '1',
        unit: 'adjustment',
        unitPrice: minimum.minus(charged).toFixed(digits),
        amount: minimum.minus(charged).toFixed(digits),
      });
    }
    lines.push(...segmentLines);
  }
  const total = lines.reduce((sum, line) => sum.plus(line.amount), new D(0));
  return { currency, lines, total: total.toFixed(digits) };
}

const day = (at: Date) => at.toISOString().slice(0, 16).replace('T', ' ');
