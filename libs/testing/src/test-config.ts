import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, requireResolved, type ResolvedConfig } from '@ferry/config';

export const TEST_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * A complete config for one test file: its own database, data directory, queue prefix (so files
 * never share BullMQ state) and container prefix, on ephemeral ports.
 */
export async function testConfig(databaseUrl: string, azurite: string, env: Record<string, string> = {}): Promise<ResolvedConfig> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ferry-test-'));
  const run = randomBytes(4).toString('hex');
  return requireResolved(
    loadConfig({
      FERRY_DATA_DIR: dataDir,
      FERRY_S3_PORT: '0',
      FERRY_CONSOLE_PORT: '0',
      FERRY_LEDGER_PORT: '0',
      FERRY_ADMIN_TOKEN: `test-admin-token-${run}`,
      FERRY_MASTER_KEY: randomBytes(32).toString('base64'),
      DATABASE_URL: databaseUrl,
      REDIS_URL: TEST_REDIS_URL,
      AZURE_STORAGE_CONNECTION_STRING: azurite,
      FERRY_QUEUE_PREFIX: `ferry-test-${run}`,
      FERRY_CONTAINER_PREFIX: `t${run}-`,
      FERRY_RECONCILE_SECONDS: '2',
      LOG_LEVEL: 'warn',
      ...env,
    }),
  );
}

/**
 * Removes the data directory `testConfig` made (spool, recovery cache): an end-to-end file leaves
 * hundreds of MiB there, and a test run dozens of such directories.
 */
export async function removeTestData(config: ResolvedConfig): Promise<void> {
  await rm(config.dataDir, { recursive: true, force: true });
}
