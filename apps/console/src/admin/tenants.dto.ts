import { z } from 'zod';

const quotaBytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** An ISO 8601 instant with its offset, or null for no lease (service without an end date). */
const leaseExpiresAt = z.iso.datetime({ offset: true }).transform((value) => new Date(value)).nullable();

export const createTenantSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/, 'lowercase letters, digits and hyphens, 2-63 characters'),
  quotaBytes,
  leaseExpiresAt: leaseExpiresAt.optional(),
});

export const updateTenantSchema = z
  .strictObject({
    quotaBytes: quotaBytes.optional(),
    suspended: z.boolean().optional(),
    leaseExpiresAt: leaseExpiresAt.optional(),
    blockReads: z.boolean().optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), 'nothing to change');

export const alertsQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });

export const deleteTenantQuerySchema = z.object({ force: z.enum(['true', 'false']).optional() });

export const createKeySchema = z.strictObject({ description: z.string().max(200).optional() });

export type CreateTenantBody = z.output<typeof createTenantSchema>;
export type UpdateTenantBody = z.output<typeof updateTenantSchema>;
