import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { spawnChild } from './child.js';
import { freePort, waitForPort } from './free-port.js';

export interface EmbeddedRedis {
  url: string;
  stop(): Promise<void>;
}

export function findRedisServer(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Runs `redis-server` from PATH on a free loopback port, its append-only file under `dir`. */
export async function startRedis(dir: string): Promise<EmbeddedRedis> {
  const binary = findRedisServer();
  if (!binary) {
    throw new Error('REDIS_URL is not set and no redis-server is on PATH: install Redis (apt-get install redis-server) or set REDIS_URL');
  }
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const child = spawnChild('redis', binary, [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--save', '', '--protected-mode', 'yes',
  ], { quiet: true });
  await waitForPort(port);
  return { url: `redis://127.0.0.1:${port}`, stop: () => child.stop() };
}
