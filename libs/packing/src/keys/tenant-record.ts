import { z } from 'zod';
import type { SealedBox } from '@ferry/common';

/** Where a container keeps its tenant's own record (docs/format.md). */
export const TENANT_RECORD_BLOB = 'ferry/tenant';

const recordSchema = z.object({
  format: z.literal(1),
  id: z.uuid(),
  name: z.string(),
  quotaBytes: z.number().int().min(0),
  status: z.enum(['active', 'suspended']),
  leaseExpiresAt: z.string().nullable(),
  blockReads: z.boolean(),
  createdAt: z.string(),
  /** Access keys with their secrets as the catalog keeps them: sealed under the master key. */
  accessKeys: z.array(
    z.object({
      accessKeyId: z.string(),
      secretSealed: z.string(),
      masterKeyId: z.string(),
      description: z.string().nullable(),
      status: z.enum(['active', 'revoked']),
      createdAt: z.string(),
      revokedAt: z.string().nullable(),
    }),
  ),
});

/**
 * The tenant's row and access keys, so that a container alone can bring the tenant back after
 * Postgres is lost: its id names the container, its keys let its backup software in again unchanged.
 */
export type TenantRecord = z.output<typeof recordSchema>;

const associatedData = (tenantId: string) => `tenant-record/${tenantId}`;

/** Sealed under the master key, bound to the tenant: it cannot be read, or moved to another container. */
export function encodeTenantRecord(box: SealedBox, record: TenantRecord): Buffer {
  return box.seal(Buffer.from(JSON.stringify(record)), associatedData(record.id));
}

export function decodeTenantRecord(box: SealedBox, tenantId: string, sealed: Buffer): TenantRecord {
  const record = recordSchema.parse(JSON.parse(box.open(sealed, associatedData(tenantId)).toString('utf8')));
  if (record.id !== tenantId) throw new Error(`the record in the container names tenant ${record.id}, not ${tenantId}`);
  return record;
}
