import { resolve } from 'node:path';
import { envSchema, SECRET_VARIABLES } from './env.schema.js';

/** A secret value: prints as [redacted] in logs, JSON and string interpolation. */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([redacted])';
  }
}

export interface FerryConfig {
  dataDir: string;
  spoolDir: string;
  bind: string;
  s3Port: number;
  consolePort: number;
  s3Domains: string[];
  region: string;
  /** PEM files; when set, both HTTP ports speak HTTPS. */
  tls?: { certFile: string; keyFile: string };
  adminToken?: Secret;
  masterKey?: { id: string; key: Secret };
  databaseUrl?: Secret;
  redisUrl?: Secret;
  azureConnectionString?: Secret;
  queuePrefix: string;
  containerPrefix: string;
  cache: { maxAgeMs: number; maxBytes: number };
  forward: { concurrency: number };
  /**
   * The ledger service (quotas, metering, billing) on its TCP transport; how long the gateway waits
   * for it before answering 503 SlowDown; how long a quota reservation lives without renewal (a
   * crashed gateway's reservations lapse after it); soft-quota alert thresholds in percent.
   */
  ledger: { host: string; port: number; timeoutMs: number; reservationTtlMs: number; alertThresholds: number[]; alertWebhookUrl?: string };
  /**
   * The repackaging engine (docs/format.md): pack size and linger, worker threads (default: one
   * per core), zstd level (0 stores chunks uncompressed), how long an unreferenced chunk is kept, and
   * the live fraction under which the prune job rewrites a pack.
   */
  packing: { targetBytes: number; lingerMs: number; threads?: number; zstdLevel: number; chunkGraceMs: number; pruneBelow: number };
  /**
   * Reads of packs at a gateway: how far a read that continues where an earlier one of the same
   * pack ended fetches ahead (0: never), and how many fetched pack bytes it keeps in memory for
   * the reads that follow.
   */
  read: { aheadBytes: number; cacheBytes: number };
  /**
   * Traffic control at each gateway: requests in flight beyond which tenants get only their fair
   * share, and how often per-tenant limits are re-read from the ledger.
   */
  throttle: { maxConcurrentRequests: number; limitsRefreshMs: number };
  /** How often the ledger samples stored bytes, and how often a gateway reports its traffic. */
  metering: { sampleMs: number; flushMs: number };
  reconcileIntervalMs: number;
  logLevel: string;
}

/** A FerryConfig whose connections are all present: what an app (not the launcher) runs with. */
export type ResolvedConfig = FerryConfig &
  Required<Pick<FerryConfig, 'adminToken' | 'masterKey' | 'databaseUrl' | 'redisUrl' | 'azureConnectionString'>>;

export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`Invalid configuration:\n${issues.map((issue) => `  - ${issue}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const secret = (value: string | undefined) => (value === undefined || value === '' ? undefined : new Secret(value));

/**
 * Reads and validates the environment once. Unknown FERRY_* variables are rejected so a typo
 * cannot silently fall back to a default. Throws ConfigError naming every bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): FerryConfig {
  const relevant: Record<string, string> = {};
  const unknown: string[] = [];
  const known = new Set(Object.keys(envSchema.shape));
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    if (known.has(name)) relevant[name] = value;
    else if (name.startsWith('FERRY_')) unknown.push(`${name}: unknown variable`);
  }
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success || unknown.length > 0) {
    const issues = parsed.success
      ? []
      : parsed.error.issues.map((issue) => {
          const name = issue.path.join('.');
          const shown = (SECRET_VARIABLES as readonly string[]).includes(name) ? '' : ` (got "${relevant[name]}")`;
          return `${name}: ${issue.message}${shown}`;
        });
    throw new ConfigError([...issues, ...unknown]);
  }
  const e = parsed.data;
  if ((e.FERRY_TLS_CERT === undefined) !== (e.FERRY_TLS_KEY === undefined)) {
    throw new ConfigError(['FERRY_TLS_CERT and FERRY_TLS_KEY: set both (PEM certificate chain and private key) or neither']);
  }
  const dataDir = resolve(e.FERRY_DATA_DIR);
  return {
    dataDir,
    spoolDir: resolve(dataDir, 'spool'),
    bind: e.FERRY_BIND,
    s3Port: e.FERRY_S3_PORT,
    consolePort: e.FERRY_CONSOLE_PORT,
    s3Domains: e.FERRY_S3_DOMAINS.map((domain) => domain.toLowerCase()),
    region: e.FERRY_REGION,
    tls: e.FERRY_TLS_CERT && e.FERRY_TLS_KEY ? { certFile: resolve(e.FERRY_TLS_CERT), keyFile: resolve(e.FERRY_TLS_KEY) } : undefined,
    adminToken: secret(e.FERRY_ADMIN_TOKEN),
    masterKey: e.FERRY_MASTER_KEY ? { id: e.FERRY_MASTER_KEY_ID, key: new Secret(e.FERRY_MASTER_KEY) } : undefined,
    databaseUrl: secret(e.DATABASE_URL),
    redisUrl: secret(e.REDIS_URL),
    azureConnectionString: secret(e.AZURE_STORAGE_CONNECTION_STRING),
    queuePrefix: e.FERRY_QUEUE_PREFIX,
    containerPrefix: e.FERRY_CONTAINER_PREFIX,
    cache: { maxAgeMs: e.FERRY_CACHE_HOURS * 3600_000, maxBytes: e.FERRY_CACHE_MAX_BYTES },
    forward: { concurrency: e.FERRY_FORWARD_CONCURRENCY },
    ledger: {
      host: e.FERRY_LEDGER_HOST,
      port: e.FERRY_LEDGER_PORT,
      timeoutMs: e.FERRY_LEDGER_TIMEOUT_MS,
      reservationTtlMs: e.FERRY_RESERVATION_TTL_SECONDS * 1000,
      alertThresholds: [...new Set(e.FERRY_QUOTA_ALERTS)].sort((a, b) => a - b),
      alertWebhookUrl: e.FERRY_ALERT_WEBHOOK_URL,
    },
    packing: {
      targetBytes: e.FERRY_PACK_TARGET_BYTES,
      lingerMs: e.FERRY_PACK_LINGER_MS,
      threads: e.FERRY_PACK_THREADS,
      zstdLevel: e.FERRY_ZSTD_LEVEL,
      chunkGraceMs: e.FERRY_CHUNK_GRACE_MS,
      pruneBelow: e.FERRY_PACK_PRUNE_BELOW,
    },
    read: { aheadBytes: e.FERRY_READ_AHEAD_BYTES, cacheBytes: e.FERRY_READ_CACHE_BYTES },
    throttle: { maxConcurrentRequests: e.FERRY_MAX_CONCURRENT_REQUESTS, limitsRefreshMs: e.FERRY_LIMITS_REFRESH_SECONDS * 1000 },
    metering: { sampleMs: e.FERRY_METER_SAMPLE_SECONDS * 1000, flushMs: e.FERRY_METER_FLUSH_SECONDS * 1000 },
    reconcileIntervalMs: e.FERRY_RECONCILE_SECONDS * 1000,
    logLevel: e.LOG_LEVEL,
  };
}

/** A tenant's own Blob container, fixed by its id: how a container is found again from the id alone. */
export function tenantContainer(config: Pick<FerryConfig, 'containerPrefix'>, tenantId: string): string {
  return `${config.containerPrefix}${tenantId}`;
}

/** For apps: every connection must be configured (the launcher fills them in embedded mode). */
export function requireResolved(config: FerryConfig): ResolvedConfig {
  const missing = (
    [
      ['FERRY_ADMIN_TOKEN', config.adminToken],
      ['FERRY_MASTER_KEY', config.masterKey],
      ['DATABASE_URL', config.databaseUrl],
      ['REDIS_URL', config.redisUrl],
      ['AZURE_STORAGE_CONNECTION_STRING', config.azureConnectionString],
    ] as const
  )
    .filter(([, value]) => value === undefined)
    .map(([name]) => `${name}: required (run "npm start" for embedded defaults)`);
  if (missing.length > 0) throw new ConfigError(missing);
  return config as ResolvedConfig;
}

/** Environment for a child app process: the resolved config, serialised back to variables. */
export function toEnv(config: ResolvedConfig): Record<string, string> {
  return {
    FERRY_DATA_DIR: config.dataDir,
    FERRY_BIND: config.bind,
    FERRY_S3_PORT: String(config.s3Port),
    FERRY_CONSOLE_PORT: String(config.consolePort),
    FERRY_S3_DOMAINS: config.s3Domains.join(','),
    FERRY_REGION: config.region,
    ...(config.tls ? { FERRY_TLS_CERT: config.tls.certFile, FERRY_TLS_KEY: config.tls.keyFile } : {}),
    FERRY_ADMIN_TOKEN: config.adminToken.reveal(),
    FERRY_MASTER_KEY: config.masterKey.key.reveal(),
    FERRY_MASTER_KEY_ID: config.masterKey.id,
    DATABASE_URL: config.databaseUrl.reveal(),
    REDIS_URL: config.redisUrl.reveal(),
    AZURE_STORAGE_CONNECTION_STRING: config.azureConnectionString.reveal(),
    FERRY_QUEUE_PREFIX: config.queuePrefix,
    FERRY_CONTAINER_PREFIX: config.containerPrefix,
    FERRY_CACHE_HOURS: String(config.cache.maxAgeMs / 3600_000),
    FERRY_CACHE_MAX_BYTES: String(config.cache.maxBytes),
    FERRY_FORWARD_CONCURRENCY: String(config.forward.concurrency),
    FERRY_MAX_CONCURRENT_REQUESTS: String(config.throttle.maxConcurrentRequests),
    FERRY_LIMITS_REFRESH_SECONDS: String(config.throttle.limitsRefreshMs / 1000),
    FERRY_METER_SAMPLE_SECONDS: String(config.metering.sampleMs / 1000),
    FERRY_METER_FLUSH_SECONDS: String(config.metering.flushMs / 1000),
    FERRY_LEDGER_HOST: config.ledger.host,
    FERRY_LEDGER_PORT: String(config.ledger.port),
    FERRY_LEDGER_TIMEOUT_MS: String(config.ledger.timeoutMs),
    FERRY_RESERVATION_TTL_SECONDS: String(config.ledger.reservationTtlMs / 1000),
    FERRY_QUOTA_ALERTS: config.ledger.alertThresholds.join(','),
    ...(config.ledger.alertWebhookUrl ? { FERRY_ALERT_WEBHOOK_URL: config.ledger.alertWebhookUrl } : {}),
    FERRY_PACK_TARGET_BYTES: String(config.packing.targetBytes),
    FERRY_PACK_LINGER_MS: String(config.packing.lingerMs),
    ...(config.packing.threads ? { FERRY_PACK_THREADS: String(config.packing.threads) } : {}),
    FERRY_ZSTD_LEVEL: String(config.packing.zstdLevel),
    FERRY_CHUNK_GRACE_MS: String(config.packing.chunkGraceMs),
    FERRY_PACK_PRUNE_BELOW: String(config.packing.pruneBelow),
    FERRY_READ_AHEAD_BYTES: String(config.read.aheadBytes),
    FERRY_READ_CACHE_BYTES: String(config.read.cacheBytes),
    FERRY_RECONCILE_SECONDS: String(config.reconcileIntervalMs / 1000),
    LOG_LEVEL: config.logLevel,
  };
}

/** This process's environment with some variables replaced: for re-validation and child processes. */
export function processEnvWith(overrides: Record<string, string>): Record<string, string | undefined> {
  return { ...process.env, ...overrides };
}
