import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);

describe('docker-compose.yml', () => {
  it('is a valid compose file (checked by docker-compose without an engine)', async () => {
    const { stdout } = await run('docker-compose', ['-f', join(import.meta.dirname, '..', '..', 'docker-compose.yml'), 'config'], {
      env: { PATH: process.env.PATH ?? '', FERRY_MASTER_KEY: Buffer.alloc(32).toString('base64') },
    });
    expect(stdout).toContain('postgres:');
    expect(stdout).toContain('azurite');
    expect(stdout).toContain('REDIS_URL: redis://redis:6379');
  });
});
