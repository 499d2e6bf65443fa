import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Embedded mode keeps the generated operator token and master key in the data directory (0600),
 * so a second start reuses them. Production sets FERRY_ADMIN_TOKEN and FERRY_MASTER_KEY instead.
 */
export async function persistedSecret(dataDir: string, file: string, make: () => string): Promise<string> {
  const path = join(dataDir, file);
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const value = make();
  await writeFile(path, `${value}\n`, { mode: 0o600, flag: 'wx' });
  return value;
}

export const newAdminToken = () => `ferry_${randomBytes(24).toString('base64url')}`;
export const newMasterKey = () => randomBytes(32).toString('base64');
