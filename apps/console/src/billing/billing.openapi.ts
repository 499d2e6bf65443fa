import { z } from 'zod';
import { planInputSchema, REQUEST_CLASSES } from '@ferry/ledger-contracts';

/** zod schemas of what the billing routes answer, for the OpenAPI document (and its test). */
const money = z.string().describe('an exact decimal amount in the currency, as a string');
const instant = z.iso.datetime();

export const planSchema = planInputSchema.extend({ id: z.uuid(), createdAt: instant, updatedAt: instant }).strict();
export const planListSchema = z.strictObject({ plans: z.array(planSchema) });

export const assignmentListSchema = z.strictObject({
  assignments: z.array(z.strictObject({ planId: z.uuid(), planName: z.string(), effectiveFrom: instant, effectiveTo: instant.nullable() })),
});

const invoiceFields = {
  id: z.uuid(),
  number: z.string().describe('INV-000001 for invoices, CN-000001 for credit notes'),
  kind: z.enum(['invoice', 'credit_note']),
  tenantId: z.uuid(),
  periodStart: instant,
  periodEnd: instant,
  currency: z.string(),
  total: money,
  corrects: z.uuid().nullable().describe('the invoice a credit note corrects'),
  reason: z.string().nullable(),
  issuedAt: instant,
};

export const invoiceSummarySchema = z.strictObject(invoiceFields);
export const invoiceListSchema = z.strictObject({ invoices: z.array(invoiceSummarySchema) });
export const invoiceSchema = z.strictObject({
  ...invoiceFields,
  lines: z.array(
    z.strictObject({
      lineNumber: z.number().int(),
      description: z.string(),
      planId: z.uuid().nullable(),
      quantity: z.string(),
      unit: z.string(),
      unitPrice: money,
      amount: money,
    }),
  ),
});

export const billingRunSchema = z.strictObject({
  period: z.string(),
  periodStart: instant,
  periodEnd: instant,
  issued: z.array(z.strictObject({ tenantId: z.uuid(), invoiceId: z.uuid(), number: z.string(), total: money, currency: z.string() })),
  alreadyInvoiced: z.array(z.uuid()).describe('tenants whose invoice for the period already existed; it stands unchanged'),
});

export const usageHistorySchema = z.strictObject({
  tenantId: z.uuid(),
  from: instant,
  to: instant,
  granularity: z.enum(['hour', 'day']),
  periods: z.array(
    z.strictObject({
      start: instant,
      ingressBytes: z.number().int(),
      egressBytes: z.number().int(),
      requests: z.strictObject(Object.fromEntries(REQUEST_CLASSES.map((name) => [name, z.number().int()])) as Record<(typeof REQUEST_CLASSES)[number], z.ZodNumber>),
      logicalByteHours: z.string().describe('exact decimal'),
      physicalByteHours: z.string().describe('exact decimal'),
    }),
  ),
});
