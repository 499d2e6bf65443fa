import { z } from 'zod';
import { billingPeriodSchema, decimalString, planInputSchema } from '@ferry/ledger-contracts';

export const createPlanSchema = planInputSchema;
export const updatePlanSchema = planInputSchema.partial().refine((changes) => Object.keys(changes).length > 0, 'nothing to change');
export const assignPlanSchema = z.strictObject({
  planId: z.uuid(),
  /** From this hour on (a time within an hour means that hour); now when absent. */
  effectiveFrom: z.iso.datetime({ offset: true }).optional(),
});
export const runBillingSchema = z.strictObject({ period: billingPeriodSchema });
export const invoicesQuerySchema = z.object({
  tenantId: z.uuid().optional(),
  period: billingPeriodSchema.optional(),
  format: z.enum(['json', 'csv']).default('json'),
});
export const invoiceQuerySchema = z.object({ format: z.enum(['json', 'csv']).default('json') });
export const creditNoteSchema = z.strictObject({
  reason: z.string().min(1).max(500),
  /** How much to credit, in the invoice's currency; what is left of the invoice when absent. */
  amount: decimalString.optional(),
});

export type CreatePlanBody = z.output<typeof createPlanSchema>;
export type UpdatePlanBody = z.output<typeof updatePlanSchema>;
export type AssignPlanBody = z.output<typeof assignPlanSchema>;
export type InvoicesQuery = z.output<typeof invoicesQuerySchema>;
export type CreditNoteBody = z.output<typeof creditNoteSchema>;
