import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DirectorySync } from './dir-sync.js';

describe('DirectorySync', () => {
  it('serves many concurrent callers with few syncs, each by a sync that started after its call', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-dirsync-'));
    const syncs = new DirectorySync();
    let started = 0;
    const original = (syncs as unknown as { run: (...args: unknown[]) => Promise<void> }).run.bind(syncs);
    (syncs as unknown as { run: (...args: unknown[]) => Promise<void> }).run = (...args: unknown[]) => {
      started++;
      return original(...args);
    };
    const calls = Array.from({ length: 30 }, () => syncs.sync(dir));
    await Promise.all(calls);
    expect(started).toBeGreaterThanOrEqual(1);
    expect(started).toBeLessThanOrEqual(2);
    // afterwards a new call runs a new sync
    await syncs.sync(dir);
    expect(started).toBeLessThanOrEqual(3);
    expect(started).toBeGreaterThanOrEqual(2);
    await rm(dir, { recursive: true });
  });

  it('reports a failure to the callers it served and recovers for the next ones', async () => {
    const syncs = new DirectorySync();
    await expect(syncs.sync('/nonexistent/ferry-dir')).rejects.toThrow(/ENOENT/);
    const dir = await mkdtemp(join(tmpdir(), 'ferry-dirsync-'));
    await expect(syncs.sync(dir)).resolves.toBeUndefined();
    await rm(dir, { recursive: true });
  });
});
