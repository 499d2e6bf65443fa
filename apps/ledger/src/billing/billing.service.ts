import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { BillingRunResult, Invoice, Plan, PlanAssignment } from '@ferry/ledger-contracts';
import { UsageRepository } from '../metering/usage.repository.js';
import { calculateInvoice, type Segment } from './invoice.calculator.js';
import { InvoicesRepository } from './invoices.repository.js';
import { PlansRepository } from './plans.repository.js';

const HOUR_MS = 3_600_000;

/** A calendar month in UTC: [start, end). */
export function monthOf(period: string): { start: Date; end: Date } {
  const [year, month] = period.split('-').map(Number);
  return { start: new Date(Date.UTC(year, month - 1, 1)), end: new Date(Date.UTC(year, month, 1)) };
}

/**
 * Billing runs: for an ended month, every tenant that was on a plan gets one invoice per currency,
 * its usage priced segment by segment under the plan in force (docs/billing.md). A run can be
 * repeated: invoices already issued stand as they are, and a correction is a credit note.
 */
@Injectable()
export class BillingService {
  constructor(
    private readonly plans: PlansRepository,
    private readonly invoices: InvoicesRepository,
    private readonly usage: UsageRepository,
  ) {}

  /** Plans start on the hour, as usage is rolled up by the hour; a time within one means that hour. */
  async assign(tenantId: string, planId: string, from?: string): Promise<PlanAssignment[]> {
    const at = new Date(Math.floor((from ? Date.parse(from) : Date.now()) / HOUR_MS) * HOUR_MS);
    await this.plans.assign(tenantId, planId, at);
    return this.plans.assignments(tenantId);
  }

  async run(period: string, now = new Date()): Promise<BillingRunResult> {
    const month = monthOf(period);
    if (month.end.getTime() > now.getTime()) {
      throw new FerryError(FerryErrorCode.BillingPeriodOpen, `${period} has not ended yet; bill it from ${month.end.toISOString()} on`);
    }
    // the stored bytes held since the last sample belong to the month too
    await this.usage.sample();
    const result: BillingRunResult = { period, periodStart: month.start.toISOString(), periodEnd: month.end.toISOString(), issued: [], alreadyInvoiced: [] };
    for (const tenantId of await this.plans.tenantsBilledIn(month.start, month.end)) {
      const byCurrency = new Map<string, Segment[]>();
      for (const segment of await this.segments(tenantId, month)) {
        byCurrency.set(segment.plan.currency, [...(byCurrency.get(segment.plan.currency) ?? []), segment]);
      }
      for (const [currency, segments] of byCurrency) {
        const calculated = calculateInvoice(month, segments);
        const invoice = await this.invoices.issueOnce({
          kind: 'invoice',
          tenantId,
          periodStart: month.start,
          periodEnd: month.end,
          currency,
          total: calculated.total,
          lines: calculated.lines,
        });
        if (invoice) result.issued.push({ tenantId, invoiceId: invoice.id, number: invoice.number, total: invoice.total, currency });
        else if (!result.alreadyInvoiced.includes(tenantId)) result.alreadyInvoiced.push(tenantId);
      }
    }
    return result;
  }

  credit(invoiceId: string, reason: string, amount?: string): Promise<Invoice> {
    return this.invoices.credit(invoiceId, reason, amount, (invoice, credited) => ({
      description: `Credit on ${invoice.number}: ${reason}`,
      planId: null,
      quantity: '1',
      unit: 'credit',
      unitPrice: `-${credited}`,
      amount: `-${credited}`,
    }));
  }

  /** The stretches of the month each plan covered, with the usage metered in each. */
  private async segments(tenantId: string, month: { start: Date; end: Date }): Promise<Segment[]> {
    const assignments = await this.plans.assignments(tenantId);
    const plansById = new Map<string, Plan>();
    const segments: Segment[] = [];
    for (const assignment of assignments) {
      const start = new Date(Math.max(Date.parse(assignment.effectiveFrom), month.start.getTime()));
      const end = new Date(Math.min(assignment.effectiveTo ? Date.parse(assignment.effectiveTo) : Infinity, month.end.getTime()));
      if (start >= end) continue;
      if (!plansById.has(assignment.planId)) plansById.set(assignment.planId, await this.plans.get(assignment.planId));
      segments.push({ plan: plansById.get(assignment.planId)!, start, end, usage: await this.invoices.usage(tenantId, start, end) });
    }
    return segments;
  }
}
