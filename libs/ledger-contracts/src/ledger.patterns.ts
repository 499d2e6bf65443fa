import { z } from 'zod';
import {
  billingPeriodSchema,
  decimalString,
  planInputSchema,
  type BillingRunResult,
  type Invoice,
  type Plan,
  type PlanAssignment,
} from './billing.schemas.js';

/** Message patterns the ledger answers; each has one validated payload schema below. */
export enum LedgerPattern {
  Ping = 'ledger.ping',
  /** Promise bytes to one upload before its body is read; refused when the quota would be passed. */
  Reserve = 'ledger.quota.reserve',
  /** The upload committed (its bytes are now in the catalog's counter) or failed: drop the promise. */
  Release = 'ledger.quota.release',
  /** A live gateway keeps its uploads' reservations from lapsing. */
  Renew = 'ledger.quota.renew',
  /** Quota, kept and reserved bytes of one tenant. */
  QuotaStatus = 'ledger.quota.status',
  /** A tenant's soft-quota alerts, newest first. */
  ListAlerts = 'ledger.alerts.list',
  /** A gateway's traffic and request counts, per tenant and hour; a batch id counts once. */
  RecordUsage = 'ledger.usage.record',
  /** A tenant's metered usage per hour or per day. */
  UsageHistory = 'ledger.usage.history',
  CreatePlan = 'ledger.plans.create',
  ListPlans = 'ledger.plans.list',
  GetPlan = 'ledger.plans.get',
  UpdatePlan = 'ledger.plans.update',
  DeletePlan = 'ledger.plans.delete',
  /** Puts a tenant on a plan from an hour on; a change mid-period is prorated. */
  AssignPlan = 'ledger.plans.assign',
  /** A tenant's plan history, the one in force last. */
  TenantPlans = 'ledger.plans.of-tenant',
  /** Invoices every tenant with a plan for an ended month; invoices already issued stand. */
  RunBilling = 'ledger.billing.run',
  ListInvoices = 'ledger.invoices.list',
  GetInvoice = 'ledger.invoices.get',
  /** Corrects an issued invoice with a new document (a negative total), never by changing it. */
  CreateCreditNote = 'ledger.invoices.credit',
  /** Sets a tenant's concurrency and bandwidth limits (null: none). */
  SetLimits = 'ledger.limits.set',
  /** Every tenant's limits: what a gateway enforces. */
  ListLimits = 'ledger.limits.list',
}

export interface TenantLimits {
  tenantId: string;
  maxConcurrentRequests: number | null;
  maxBandwidthBytesPerSecond: number | null;
}

/** How S3 requests are classed for metering and prices. */
export const REQUEST_CLASSES = ['write', 'read', 'list', 'delete'] as const;
export type RequestClass = (typeof REQUEST_CLASSES)[number];

const tenantId = z.uuid();
const reservationIds = z.array(z.uuid()).min(1).max(1000);
const holder = z.string().min(1).max(200);
const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const instant = z.iso.datetime({ offset: true });

export const usageEntrySchema = z.strictObject({
  tenantId,
  /** The hour the counts fall in: an instant on the hour. */
  hour: instant.refine((value) => Date.parse(value) % 3_600_000 === 0, 'must be on the hour'),
  ingressBytes: count,
  egressBytes: count,
  requests: z.strictObject({ write: count, read: count, list: count, delete: count }),
});
export type UsageEntry = z.output<typeof usageEntrySchema>;

export const ledgerPayloads = {
  [LedgerPattern.Ping]: z.strictObject({ from: z.string().min(1).max(64) }),
  [LedgerPattern.Reserve]: z.strictObject({
    tenantId,
    reservationId: z.uuid(),
    bytes: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    holder,
  }),
  [LedgerPattern.Release]: z.strictObject({ tenantId, reservationIds }),
  [LedgerPattern.Renew]: z.strictObject({ holder, reservationIds }),
  [LedgerPattern.QuotaStatus]: z.strictObject({ tenantId }),
  [LedgerPattern.ListAlerts]: z.strictObject({ tenantId, limit: z.number().int().min(1).max(1000).default(100) }),
  [LedgerPattern.RecordUsage]: z.strictObject({ batchId: z.string().min(1).max(200), entries: z.array(usageEntrySchema).min(1).max(10_000) }),
  [LedgerPattern.UsageHistory]: z
    .strictObject({ tenantId, granularity: z.enum(['hour', 'day']), from: instant, to: instant })
    .refine((query) => Date.parse(query.from) < Date.parse(query.to), 'from must be before to')
    .refine((query) => Date.parse(query.to) - Date.parse(query.from) <= 400 * 86_400_000, 'at most 400 days at once'),
  [LedgerPattern.CreatePlan]: planInputSchema,
  [LedgerPattern.ListPlans]: z.strictObject({}),
  [LedgerPattern.GetPlan]: z.strictObject({ planId: z.uuid() }),
  [LedgerPattern.UpdatePlan]: z.strictObject({ planId: z.uuid(), changes: planInputSchema.partial().refine((changes) => Object.keys(changes).length > 0, 'nothing to change') }),
  [LedgerPattern.DeletePlan]: z.strictObject({ planId: z.uuid() }),
  [LedgerPattern.AssignPlan]: z.strictObject({ tenantId, planId: z.uuid(), effectiveFrom: instant.optional() }),
  [LedgerPattern.TenantPlans]: z.strictObject({ tenantId }),
  [LedgerPattern.RunBilling]: z.strictObject({ period: billingPeriodSchema }),
  [LedgerPattern.ListInvoices]: z.strictObject({ tenantId: tenantId.optional(), period: billingPeriodSchema.optional() }),
  [LedgerPattern.GetInvoice]: z.strictObject({ invoiceId: z.uuid() }),
  [LedgerPattern.SetLimits]: z.strictObject({
    tenantId,
    maxConcurrentRequests: z.number().int().min(1).max(100_000).nullable(),
    maxBandwidthBytesPerSecond: z.number().int().min(1024).max(Number.MAX_SAFE_INTEGER).nullable(),
  }),
  [LedgerPattern.ListLimits]: z.strictObject({ tenantId: tenantId.optional() }),
  [LedgerPattern.CreateCreditNote]: z.strictObject({
    invoiceId: z.uuid(),
    reason: z.string().min(1).max(500),
    /** How much to credit; the whole invoice when absent. */
    amount: decimalString.optional(),
  }),
} satisfies Record<LedgerPattern, z.ZodType>;

export type LedgerPayload<P extends LedgerPattern> = z.output<(typeof ledgerPayloads)[P]>;
export type LedgerInput<P extends LedgerPattern> = z.input<(typeof ledgerPayloads)[P]>;

export interface QuotaStatus {
  quotaBytes: number;
  /** Bytes the tenant keeps: object versions (not delete markers) and parts of unfinished uploads. */
  keptBytes: number;
  /** Bytes promised to uploads in flight. */
  reservedBytes: number;
}

export interface QuotaAlert {
  id: string;
  thresholdPercent: number;
  usedBytes: number;
  quotaBytes: number;
  raisedAt: string;
  clearedAt: string | null;
  notifiedAt: string | null;
}

/** One period of a tenant's metered usage. Byte-hours are exact decimals, as strings. */
export interface UsagePeriod {
  start: string;
  ingressBytes: number;
  egressBytes: number;
  requests: Record<RequestClass, number>;
  logicalByteHours: string;
  physicalByteHours: string;
}

export interface LedgerReplies {
  [LedgerPattern.Ping]: { ok: true; at: string; database: 'up' };
  [LedgerPattern.Reserve]: QuotaStatus & { granted: boolean };
  [LedgerPattern.Release]: { released: number };
  [LedgerPattern.Renew]: { renewed: number };
  [LedgerPattern.QuotaStatus]: QuotaStatus;
  [LedgerPattern.ListAlerts]: { alerts: QuotaAlert[] };
  [LedgerPattern.RecordUsage]: { counted: boolean };
  [LedgerPattern.UsageHistory]: { granularity: 'hour' | 'day'; periods: UsagePeriod[] };
  [LedgerPattern.CreatePlan]: Plan;
  [LedgerPattern.ListPlans]: { plans: Plan[] };
  [LedgerPattern.GetPlan]: Plan;
  [LedgerPattern.UpdatePlan]: Plan;
  [LedgerPattern.DeletePlan]: { deleted: true };
  [LedgerPattern.AssignPlan]: { assignments: PlanAssignment[] };
  [LedgerPattern.TenantPlans]: { assignments: PlanAssignment[] };
  [LedgerPattern.RunBilling]: BillingRunResult;
  [LedgerPattern.ListInvoices]: { invoices: Omit<Invoice, 'lines'>[] };
  [LedgerPattern.GetInvoice]: Invoice;
  [LedgerPattern.CreateCreditNote]: Invoice;
  [LedgerPattern.SetLimits]: TenantLimits;
  [LedgerPattern.ListLimits]: { limits: TenantLimits[] };
}
