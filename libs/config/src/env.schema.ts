import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const bytes = z.coerce.number().int().positive();
const list = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

/**
 * Every environment variable Ferry reads, in one place. Values that hold secrets are listed in
 * SECRET_VARIABLES so logs and the admin API can redact them.
 */
export const envSchema = z.object({
  FERRY_DATA_DIR: z.string().min(1).default('./.ferry'),
  FERRY_BIND: z.string().min(1).default('127.0.0.1'),
  FERRY_S3_PORT: port.default(9000),
  FERRY_CONSOLE_PORT: port.default(9001),
  FERRY_S3_DOMAINS: list.default(['localhost']),
  FERRY_REGION: z.string().min(1).default('us-east-1'),
  FERRY_TLS_CERT: z.string().min(1).optional(),
  FERRY_TLS_KEY: z.string().min(1).optional(),
  FERRY_ADMIN_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  FERRY_MASTER_KEY: z
    .string()
    .refine((value) => Buffer.from(value, 'base64').length === 32, 'must be 32 bytes, base64-encoded')
    .optional(),
  FERRY_MASTER_KEY_ID: z.string().regex(/^[A-Za-z0-9._-]{1,32}$/).default('k1'),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  AZURE_STORAGE_CONNECTION_STRING: z
    .string()
    .refine((value) => /BlobEndpoint=|AccountName=/.test(value), 'is not an Azure Storage connection string')
    .optional(),
  FERRY_QUEUE_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('ferry'),
  FERRY_CONTAINER_PREFIX: z.string().regex(/^[a-z0-9-]{1,20}$/).default('ferry-'),
  FERRY_CACHE_HOURS: z.coerce.number().min(0).default(48),
  FERRY_CACHE_MAX_BYTES: bytes.default(50 * 1024 ** 3),
  FERRY_FORWARD_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(128),
  FERRY_PACK_TARGET_BYTES: z.coerce.number().int().min(1024 * 1024).max(1024 * 1024 * 1024).default(32 * 1024 * 1024),
  FERRY_PACK_LINGER_MS: z.coerce.number().int().min(0).max(60_000).default(200),
  FERRY_PACK_THREADS: z.coerce.number().int().min(1).max(64).optional(),
  FERRY_ZSTD_LEVEL: z.coerce.number().int().min(0).max(19).default(1),
  FERRY_PACK_PRUNE_BELOW: z.coerce.number().min(0).max(1).default(0.5),
  FERRY_CHUNK_GRACE_MS: z.coerce.number().int().min(0).default(3600_000),
  FERRY_READ_AHEAD_BYTES: z.coerce.number().int().min(0).max(64 * 1024 * 1024).default(8 * 1024 * 1024),
  FERRY_READ_CACHE_BYTES: z.coerce.number().int().min(0).default(256 * 1024 * 1024),
  FERRY_LEDGER_HOST: z.string().min(1).default('127.0.0.1'),
  FERRY_LEDGER_PORT: port.default(9002),
  FERRY_LEDGER_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(3000),
  FERRY_RESERVATION_TTL_SECONDS: z.coerce.number().int().min(10).max(86_400).default(120),
  FERRY_QUOTA_ALERTS: list
    .pipe(z.array(z.string().regex(/^\d+$/, 'must be whole percentages').transform(Number).pipe(z.number().int().min(1).max(100))))
    .default([80, 95]),
  FERRY_ALERT_WEBHOOK_URL: z.url({ protocol: /^https?$/ }).optional(),
  FERRY_MAX_CONCURRENT_REQUESTS: z.coerce.number().int().min(1).max(100_000).default(512),
  FERRY_LIMITS_REFRESH_SECONDS: z.coerce.number().min(0.1).max(3600).default(15),
  FERRY_METER_SAMPLE_SECONDS: z.coerce.number().min(1).max(3600).default(60),
  FERRY_METER_FLUSH_SECONDS: z.coerce.number().min(0.1).max(3600).default(10),
  FERRY_RECONCILE_SECONDS: z.coerce.number().min(1).default(30),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type FerryEnv = z.input<typeof envSchema>;

export const SECRET_VARIABLES = [
  'FERRY_ADMIN_TOKEN',
  'FERRY_MASTER_KEY',
  'DATABASE_URL',
  'REDIS_URL',
  'AZURE_STORAGE_CONNECTION_STRING',
] as const;
