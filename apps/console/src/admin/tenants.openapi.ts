import { z } from 'zod';

/**
 * What the tenant routes answer (tenants.service.ts's views), as zod schemas for the OpenAPI
 * document. Strict, so that a test parsing real responses with them notices a field added to a view
 * but not here.
 */

const instant = z.iso.datetime();
const bytes = z.number().int().min(0);

export const tenantSchema = z.strictObject({
  id: z.uuid(),
  name: z.string(),
  quotaBytes: bytes,
  status: z.enum(['active', 'suspended']),
  leaseExpiresAt: instant.nullable().describe('end of the service lease; writes are refused after it (null: no end)'),
  blockReads: z.boolean().describe('reads are refused too while the tenant may not write'),
  createdAt: instant,
});

export const usageSchema = z.strictObject({
  quotaBytes: bytes,
  logicalBytes: bytes.describe('what the tenant keeps'),
  quotaUsedBytes: bytes.describe('what the quota counts: logical plus parts of unfinished multipart uploads'),
  storedBytes: bytes.describe('its packs in Blob'),
  objects: z.number().int().min(0),
  pendingBytes: bytes.describe('acknowledged, still only in the spool'),
  dedupRatio: z.number().nullable(),
  compressionRatio: z.number().nullable(),
});

export const tenantWithUsageSchema = tenantSchema.extend(usageSchema.shape);

export const tenantListSchema = z.strictObject({ tenants: z.array(tenantSchema) });

const secretAccessKey = z.string().length(40).describe('shown once, never again');

export const createdTenantSchema = tenantSchema.extend({
  accessKeyId: z.string().describe('the first access key'),
  secretAccessKey,
});

export const accessKeySchema = z.strictObject({
  accessKeyId: z.string(),
  description: z.string().nullable(),
  status: z.enum(['active', 'revoked']),
  createdAt: instant,
  revokedAt: instant.nullable(),
});

export const createdAccessKeySchema = accessKeySchema.extend({ secretAccessKey });

export const accessKeyListSchema = z.strictObject({ keys: z.array(accessKeySchema) });

export const dataKeySchema = z.strictObject({ dataKeyNumber: z.number().int().min(1).describe('the data key new packs are sealed with') });

export const alertListSchema = z.strictObject({
  alerts: z.array(
    z.strictObject({
      id: z.uuid(),
      thresholdPercent: z.number().int(),
      usedBytes: bytes,
      quotaBytes: bytes,
      raisedAt: instant,
      clearedAt: instant.nullable().describe('usage fell back under the threshold'),
      notifiedAt: instant.nullable().describe('delivered to FERRY_ALERT_WEBHOOK_URL'),
    }),
  ),
});

export const verifyQueuedSchema = z.strictObject({ runId: z.uuid(), state: z.literal('queued') });

const verifyReportSchema = z
  .strictObject({
    packs: z.number().int(),
    chunks: z.number().int(),
    bytes,
    damaged: z.array(
      z.strictObject({
        packId: z.string(),
        chunkId: z.string(),
        reason: z.string(),
        objects: z.array(z.string()).describe('objects naming the chunk, as bucket/key'),
        repaired: z.boolean().describe('re-stored from the local recovery cache'),
      }),
    ),
    damagedIndexes: z.array(z.string()).describe("packs whose own index failed its check; their events were written again"),
  })
  .describe('state done');

export const verifyRunSchema = z.strictObject({
  runId: z.uuid(),
  state: z.enum(['queued', 'running', 'done', 'failed']),
  requestedAt: instant,
  startedAt: instant.nullable(),
  finishedAt: instant.nullable(),
  report: z
    .union([verifyReportSchema, z.strictObject({ error: z.string() }).describe('state failed')])
    .nullable()
    .describe('null until the run ends'),
});

export const rebuildReportSchema = z.strictObject({
  keys: z.number().int(),
  packs: z.number().int(),
  chunks: z.number().int(),
  buckets: z.number().int(),
  objects: z.number().int(),
  incomplete: z
    .array(z.strictObject({ bucket: z.string(), key: z.string(), missingChunks: z.number().int() }))
    .describe('objects naming a chunk no pack holds: not restored'),
  unreadablePacks: z
    .array(z.strictObject({ name: z.string(), reason: z.string() }))
    .describe('pack blobs that could not be read; their chunks are missing from the catalog'),
  tenantRestored: z.boolean().describe("the tenant's row and access keys were gone too and came back from the container's record"),
});
