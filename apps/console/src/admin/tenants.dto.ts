import { z } from 'zod';

const quotaBytes = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

export const createTenantSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$/, 'lowercase letters, digits and hyphens, 2-63 characters'),
  quotaBytes,
});

export const updateTenantSchema = z
  .strictObject({ quotaBytes: quotaBytes.optional(), suspended: z.boolean().optional() })
  .refine((body) => body.quotaBytes !== undefined || body.suspended !== undefined, 'nothing to change');

export const deleteTenantQuerySchema = z.object({ force: z.enum(['true', 'false']).optional() });

export const createKeySchema = z.strictObject({ description: z.string().max(200).optional() });

export type CreateTenantBody = z.output<typeof createTenantSchema>;
export type UpdateTenantBody = z.output<typeof updateTenantSchema>;
