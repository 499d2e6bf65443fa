import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadConfig, requireResolved, type ResolvedConfig } from '@ferry/config';
import { TEST_REDIS_URL } from '@ferry/testing';
import { freePort } from '../../apps/ferry/src/embedded/free-port.js';

/**
 * A Ferry configuration for one benchmark run, as `npm start` would resolve it: free ports for the
 * S3, console and ledger listeners, fresh secrets, the test Redis, and a queue and container prefix
 * of its own (`containerLetter` tells the benchmarks' containers apart).
 */
export async function benchConfig(options: { dataDir: string; databaseUrl: string; azurite: string; containerLetter: string }): Promise<ResolvedConfig> {
  const run = randomBytes(4).toString('hex');
  return requireResolved(
    loadConfig({
      FERRY_DATA_DIR: join(options.dataDir, 'ferry'),
      FERRY_S3_PORT: String(await freePort()),
      FERRY_CONSOLE_PORT: String(await freePort()),
      FERRY_LEDGER_PORT: String(await freePort()),
      FERRY_ADMIN_TOKEN: `bench-admin-token-${run}`,
      FERRY_MASTER_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: options.databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      AZURE_STORAGE_CONNECTION_STRING: options.azurite,
      FERRY_QUEUE_PREFIX: `ferry-bench-${run}`,
      FERRY_CONTAINER_PREFIX: `${options.containerLetter}${run}-`,
      LOG_LEVEL: 'warn',
    }),
  );
}
