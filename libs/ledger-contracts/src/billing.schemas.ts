import { z } from 'zod';

/** A non-negative decimal amount or price, as a string: money never travels as a float. */
export const decimalString = z.string().regex(/^\d{1,15}(\.\d{1,6})?$/, 'a non-negative decimal such as "0.023", at most 6 decimals');

const perClass = <T extends z.ZodType>(value: T) => z.strictObject({ write: value, read: value, list: value, delete: value });

/** What an operator writes to create a plan; every price is in the plan's currency. */
export const planInputSchema = z.strictObject({
  name: z.string().min(1).max(100),
  currency: z.string().regex(/^[A-Z]{3}$/, 'an ISO 4217 code such as "EUR"'),
  /** Which stored bytes a GB-month counts: what the tenant keeps, or what it costs in Blob. */
  storageBasis: z.enum(['logical', 'physical']),
  storagePricePerGbMonth: decimalString,
  egressPricePerGb: decimalString,
  requestPricesPer1000: perClass(decimalString),
  freeStorageGbMonths: decimalString.default('0'),
  freeEgressGb: decimalString.default('0'),
  freeRequests: perClass(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)).default({ write: 0, read: 0, list: 0, delete: 0 }),
  /** Charged when a month's lines come to less. */
  minimumCharge: decimalString.default('0'),
});
export type PlanInput = z.output<typeof planInputSchema>;

export interface Plan extends PlanInput {
  id: string;
  createdAt: string;
  updatedAt: string;
}

export interface PlanAssignment {
  planId: string;
  planName: string;
  effectiveFrom: string;
  /** Until the next assignment; null for the one in force. */
  effectiveTo: string | null;
}

export interface InvoiceLine {
  lineNumber: number;
  description: string;
  planId: string | null;
  quantity: string;
  unit: string;
  unitPrice: string;
  amount: string;
}

export interface Invoice {
  id: string;
  number: string;
  kind: 'invoice' | 'credit_note';
  tenantId: string;
  periodStart: string;
  periodEnd: string;
  currency: string;
  total: string;
  /** For a credit note: the invoice it corrects. */
  corrects: string | null;
  reason: string | null;
  issuedAt: string;
  lines: InvoiceLine[];
}

export interface BillingRunResult {
  period: string;
  periodStart: string;
  periodEnd: string;
  issued: { tenantId: string; invoiceId: string; number: string; total: string; currency: string }[];
  /** Tenants whose invoice for the period already exists: it stands unchanged. */
  alreadyInvoiced: string[];
}

/** A calendar month in UTC, `YYYY-MM`. */
export const billingPeriodSchema = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month, YYYY-MM');
