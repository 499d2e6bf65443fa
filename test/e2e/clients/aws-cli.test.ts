import { createHash } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryUnderTest, listKeys, type TenantSession } from '../../support/ferry.js';
import {
  awsEnv,
  expectAllForwarded,
  hashTree,
  MiB,
  multipartEtag,
  run,
  sha256File,
  Workspace,
  writeRandomFile,
  writeTree,
  type CliResult,
  type TreeFile,
} from '../../support/clients.js';

/** The Debian package's CLI, by full path: a pyenv `aws` shim comes first on PATH. */
const AWS = '/usr/bin/aws';
const BUCKET = 'aws-e2e';
const BIG_SIZE = 40 * MiB + 12_345; // six 8 MiB parts, the last one short
const AWS_PART_SIZE = 8 * MiB; // the CLI's default multipart_chunksize (and threshold)

/** One line of `aws s3 ls --recursive`: date, time, size, key (which may contain spaces). */
const LS_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+(\d+) (.+)$/;

async function readSlice(path: string, start: number, endInclusive: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(endInclusive - start + 1);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer;
  } finally {
    await handle.close();
  }
}

describe('AWS CLI 2 (/usr/bin/aws) against Ferry', () => {
  let ferry: FerryUnderTest;
  let tenant: TenantSession;
  let ws: Workspace;
  let tree: TreeFile[];
  let treeHashes: Record<string, string>;
  let bigHash: string;

  const aws = (args: string[], timeoutMs = 60_000): Promise<CliResult> =>
    run(AWS, ['--endpoint-url', ferry.s3Endpoint, ...args], { env: awsEnv(ws, tenant), cwd: ws.root, timeoutMs });
  const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

  beforeAll(async () => {
    ferry = await FerryUnderTest.start();
    tenant = await ferry.tenant('aws-cli');
    ws = await Workspace.create('aws');
    tree = await writeTree(ws.path('tree'), { count: 300, maxBytes: 6000 });
    treeHashes = await hashTree(ws.path('tree'));
    await writeRandomFile(ws.path('small.txt'), 1000);
    bigHash = await writeRandomFile(ws.path('big.bin'), BIG_SIZE);
  });

  afterAll(async () => {
    await ferry?.stop();
    await ws?.remove();
  });

  it('makes a bucket and lists it', async () => {
    expect((await aws(['s3', 'mb', `s3://${BUCKET}`])).stdout.trim()).toBe(`make_bucket: ${BUCKET}`);
    expect(lines((await aws(['s3', 'ls'])).stdout).map((line) => line.split(' ').at(-1))).toEqual([BUCKET]);
  });

  it('copies a small file up and back byte for byte; head-object and ranged get-object agree', async () => {
    const up = await aws(['s3', 'cp', '--no-progress', ws.path('small.txt'), `s3://${BUCKET}/single/small.txt`]);
    expect(up.stdout.trim()).toBe(`upload: ./small.txt to s3://${BUCKET}/single/small.txt`);
    await aws(['s3', 'cp', '--no-progress', `s3://${BUCKET}/single/small.txt`, ws.path('down', 'small.txt')]);
    expect(await sha256File(ws.path('down', 'small.txt'))).toBe(await sha256File(ws.path('small.txt')));

    const head = JSON.parse((await aws(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'single/small.txt'])).stdout);
    const original = await readSlice(ws.path('small.txt'), 0, 999);
    expect(head).toMatchObject({ ContentLength: 1000, ETag: `"${createHash('md5').update(original).digest('hex')}"`, ContentType: 'text/plain' });
    expect(Date.parse(head.LastModified)).toBeGreaterThan(Date.now() - 10 * 60_000);

    const ranged = JSON.parse(
      (await aws(['s3api', 'get-object', '--bucket', BUCKET, '--key', 'single/small.txt', '--range', 'bytes=100-299', ws.path('down', 'range.bin')])).stdout,
    );
    expect(ranged).toMatchObject({ ContentLength: 200, ContentRange: 'bytes 100-299/1000' });
    expect((await readSlice(ws.path('down', 'range.bin'), 0, 199)).equals(original.subarray(100, 300))).toBe(true);
  });

  it('copies a 40 MiB file up with a multipart upload and back with ranged GETs', async () => {
    const up = await aws(['s3', 'cp', '--no-progress', ws.path('big.bin'), `s3://${BUCKET}/big/random.bin`], 90_000);
    expect(up.stdout.trim()).toBe(`upload: ./big.bin to s3://${BUCKET}/big/random.bin`);

    const head = JSON.parse((await aws(['s3api', 'head-object', '--bucket', BUCKET, '--key', 'big/random.bin'])).stdout);
    expect(head.ContentLength).toBe(BIG_SIZE);
    expect(head.ETag).toBe(await multipartEtag(ws.path('big.bin'), AWS_PART_SIZE));

    // the CLI downloads objects above its threshold as concurrent 8 MiB ranges
    await aws(['s3', 'cp', '--no-progress', `s3://${BUCKET}/big/random.bin`, ws.path('down', 'big.bin')], 90_000);
    expect(await sha256File(ws.path('down', 'big.bin'))).toBe(bigHash);

    // a range straddling the boundary between the first and second part
    const start = AWS_PART_SIZE - 100;
    const end = AWS_PART_SIZE + 99;
    const ranged = JSON.parse(
      (await aws(['s3api', 'get-object', '--bucket', BUCKET, '--key', 'big/random.bin', '--range', `bytes=${start}-${end}`, ws.path('down', 'big-range.bin')]))
        .stdout,
    );
    expect(ranged).toMatchObject({ ContentLength: 200, ContentRange: `bytes ${start}-${end}/${BIG_SIZE}` });
    expect((await readSlice(ws.path('down', 'big-range.bin'), 0, 199)).equals(await readSlice(ws.path('big.bin'), start, end))).toBe(true);
  }, 240_000);

  it('syncs a tree up, lists it recursively, syncs it down byte for byte, and a second sync sends nothing', async () => {
    const up = await aws(['s3', 'sync', '--no-progress', ws.path('tree'), `s3://${BUCKET}/tree`], 120_000);
    const uploads = lines(up.stdout).filter((line) => line.startsWith('upload: '));
    expect(uploads).toHaveLength(tree.length);

    const listed = lines((await aws(['s3', 'ls', '--recursive', `s3://${BUCKET}/tree/`])).stdout).map((line) => {
      const match = LS_LINE.exec(line);
      if (!match) throw new Error(`unexpected ls line: ${JSON.stringify(line)}`);
      return { path: match[2]!, size: Number(match[1]) };
    });
    const expected = tree.map((file) => ({ path: `tree/${file.path}`, size: file.size }));
    const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
    expect(listed.sort(byPath)).toEqual(expected.sort(byPath));

    await aws(['s3', 'sync', '--no-progress', `s3://${BUCKET}/tree`, ws.path('tree-down')], 120_000);
    expect(await hashTree(ws.path('tree-down'))).toEqual(treeHashes);

    // sizes and LastModified came back right, so nothing looks out of date
    const again = await aws(['s3', 'sync', '--no-progress', ws.path('tree'), `s3://${BUCKET}/tree`], 120_000);
    expect(again.stdout).toBe('');
  }, 300_000);

  it('sync --delete removes the remote copies of files deleted locally', async () => {
    const gone = [tree[3]!.path, tree[42]!.path, tree[150]!.path, 'with space.txt', '日本語/ファイル 一.bin'];
    for (const path of gone) await rm(ws.path('tree', path));
    const result = await aws(['s3', 'sync', '--no-progress', '--delete', ws.path('tree'), `s3://${BUCKET}/tree`], 120_000);
    expect(
      lines(result.stdout)
        .filter((line) => line.startsWith('delete: '))
        .sort(),
    ).toEqual(gone.map((path) => `delete: s3://${BUCKET}/tree/${path}`).sort());
    expect(lines(result.stdout).filter((line) => !line.startsWith('delete: '))).toEqual([]);

    const remote = await listKeys(tenant.s3, BUCKET, 'tree/');
    expect(remote).toEqual(Object.keys(await hashTree(ws.path('tree'))).map((path) => `tree/${path}`).sort());
  }, 180_000);

  it('rm --recursive deletes every object under a prefix and nothing else', async () => {
    const before = await listKeys(tenant.s3, BUCKET, 'tree/');
    expect(before.length).toBe(tree.length - 5);
    const result = await aws(['s3', 'rm', '--recursive', `s3://${BUCKET}/tree/`], 120_000);
    expect(lines(result.stdout).filter((line) => line.startsWith('delete: '))).toHaveLength(before.length);
    expect(await listKeys(tenant.s3, BUCKET, 'tree/')).toEqual([]);
    expect(await listKeys(tenant.s3, BUCKET, 'single/')).toEqual(['single/small.txt']);
  }, 180_000);

  it('reports usage that matches the bucket and has every byte forwarded to Blob', async () => {
    await expectAllForwarded(ferry, tenant);
  }, 60_000);
});
