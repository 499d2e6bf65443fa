import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { FerryUnderTest, listKeys, type TenantSession } from '../../support/ferry.js';
import {
  expectAllForwarded,
  hashTree,
  MiB,
  multipartEtag,
  run,
  sha256File,
  Workspace,
  writeRandomFile,
  writeRcloneConfig,
  writeTree,
  type CliResult,
  type TreeFile,
} from '../../support/clients.js';

const BUCKET = 'rclone-e2e';
const BIG_SIZE = 12 * MiB + 7; // three 5 MiB parts with the cutoff below, the last one short
const CHUNK = 5 * MiB;

describe('rclone against Ferry', () => {
  let ferry: FerryUnderTest;
  let tenant: TenantSession;
  let ws: Workspace;
  let config: string;
  let tree: TreeFile[];
  let treeHashes: Record<string, string>;

  /** rclone with its own config and no retries: a retried failure would hide a gateway fault. */
  const rclone = (args: string[], timeoutMs = 60_000): Promise<CliResult> =>
    run('/usr/bin/rclone', ['--config', config, '--retries', '1', '--low-level-retries', '1', ...args], { env: ws.env(), cwd: ws.root, timeoutMs });
  const copied = (result: CliResult) => result.stderr.split('\n').filter((line) => /INFO {2}: .*: Copied \(/.test(line));

  beforeAll(async () => {
    ferry = await FerryUnderTest.start();
    tenant = await ferry.tenant('rclone');
    ws = await Workspace.create('rclone');
    config = await writeRcloneConfig(ws, ferry, tenant);
    tree = await writeTree(ws.path('tree'), { count: 250, maxBytes: 9000 });
    treeHashes = await hashTree(ws.path('tree'));
  });

  afterAll(async () => {
    await ferry?.stop();
    await ws?.remove();
  });

  it('syncs a tree up, checks it, syncs it back down byte for byte with mtimes, and a second sync copies nothing', async () => {
    const up = await rclone(['sync', '-v', ws.path('tree'), `ferry:${BUCKET}/backup/tree`], 120_000);
    expect(copied(up)).toHaveLength(tree.length);

    const check = await rclone(['check', ws.path('tree'), `ferry:${BUCKET}/backup/tree`]);
    expect(check.stderr).toContain('0 differences found');
    expect(check.stderr).toContain(`${tree.length} matching files`);

    await rclone(['sync', '-v', `ferry:${BUCKET}/backup/tree`, ws.path('tree-down')], 120_000);
    expect(await hashTree(ws.path('tree-down'))).toEqual(treeHashes);
    // rclone keeps the mtime in x-amz-meta-mtime: user metadata made the round trip
    for (const file of tree) {
      const [source, restored] = await Promise.all([stat(ws.path('tree', file.path)), stat(ws.path('tree-down', file.path))]);
      expect(Math.abs(restored.mtimeMs - source.mtimeMs), file.path).toBeLessThan(1);
    }

    const again = await rclone(['sync', '-v', ws.path('tree'), `ferry:${BUCKET}/backup/tree`], 120_000);
    expect(copied(again)).toEqual([]);
  }, 300_000);

  it('uploads a file above the cutoff as a multipart upload and reads it back byte for byte', async () => {
    const hash = await writeRandomFile(ws.path('big', 'random.bin'), BIG_SIZE);
    const multipart = ['--s3-upload-cutoff', '5M', '--s3-chunk-size', '5M'];
    await rclone(['copy', ...multipart, ws.path('big'), `ferry:${BUCKET}/big`], 90_000);

    const head = await tenant.s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'big/random.bin' }));
    expect(head.ContentLength).toBe(BIG_SIZE);
    expect(head.ETag).toBe(await multipartEtag(ws.path('big', 'random.bin'), CHUNK));
    // a multipart ETag is no MD5, so rclone stores the whole-file MD5 as metadata for `check`
    const md5 = createHash('md5').update(await readFile(ws.path('big', 'random.bin'))).digest('base64');
    expect(head.Metadata?.md5chksum).toBe(md5);

    const check = await rclone(['check', ws.path('big'), `ferry:${BUCKET}/big`]);
    expect(check.stderr).toContain('0 differences found');
    expect(check.stderr).toContain('1 matching files');

    await rclone(['copyto', `ferry:${BUCKET}/big/random.bin`, ws.path('big-down', 'random.bin')], 90_000);
    expect(await sha256File(ws.path('big-down', 'random.bin'))).toBe(hash);
  }, 240_000);

  it('delete removes the files under one path, purge everything under another, and nothing else goes', async () => {
    const before = await listKeys(tenant.s3, BUCKET, '');
    const under = (prefix: string) => before.filter((key) => key.startsWith(prefix));
    expect(under('backup/tree/d1/').length).toBeGreaterThan(10);
    expect(under('backup/tree/d2/').length).toBeGreaterThan(10);

    await rclone(['delete', `ferry:${BUCKET}/backup/tree/d1`], 120_000);
    expect(await listKeys(tenant.s3, BUCKET, '')).toEqual(before.filter((key) => !key.startsWith('backup/tree/d1/')));

    await rclone(['purge', `ferry:${BUCKET}/backup/tree/d2`], 120_000);
    expect(await listKeys(tenant.s3, BUCKET, '')).toEqual(before.filter((key) => !key.startsWith('backup/tree/d1/') && !key.startsWith('backup/tree/d2/')));
    const lsf = await rclone(['lsf', '--dirs-only', `ferry:${BUCKET}/backup/tree`]);
    expect(lsf.stdout.split('\n').filter(Boolean).sort()).toEqual(['d0/', 'd3/', 'd4/', 'deep/', 'emoji 🚀/', 'maths/', 'équipe/', '日本語/'].sort());
  }, 240_000);

  it('reports usage that matches the bucket and has every byte forwarded to Blob', async () => {
    await expectAllForwarded(ferry, tenant);
  }, 60_000);
});
