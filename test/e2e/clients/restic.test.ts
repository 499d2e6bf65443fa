import { randomBytes } from 'node:crypto';
import { open, rm, utimes } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { FerryUnderTest, type TenantSession } from '../../support/ferry.js';
import {
  awsEnv,
  expectAllForwarded,
  hashTree,
  MiB,
  run,
  Workspace,
  writeFileAt,
  writeRandomFile,
  writeTree,
  type CliResult,
} from '../../support/clients.js';

const BUCKET = 'restic-e2e';
const PREFIX = 'hosts/vm1';

interface BackupSummary {
  message_type: 'summary';
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  total_files_processed: number;
  total_bytes_processed: number;
  snapshot_id: string;
}

interface Snapshot {
  id: string;
  short_id: string;
  paths: string[];
}

describe('restic against Ferry', () => {
  let ferry: FerryUnderTest;
  let tenant: TenantSession;
  let ws: Workspace;
  let repo: string;
  let source: string;
  let firstSnapshot: string | undefined;
  let secondSnapshot: string | undefined;
  let secondHashes: Record<string, string> | undefined;

  /**
   * restic retries failed backend calls with backoff for about a minute before it gives up, so
   * each call has a deadline; its stderr then shows the gateway's answers.
   */
  const restic = (args: string[], timeoutMs = 60_000, cwd = ws.root): Promise<CliResult> =>
    run('/usr/bin/restic', ['-r', repo, '--cache-dir', ws.path('cache'), ...args], {
      env: { ...awsEnv(ws, tenant), RESTIC_PASSWORD: 'correct horse battery staple' },
      cwd,
      timeoutMs,
    });

  const summaryOf = (result: CliResult): BackupSummary => {
    const summary = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { message_type: string })
      .find((message) => message.message_type === 'summary');
    if (!summary) throw new Error(`no summary in restic output:\n${result.stdout}\n${result.stderr}`);
    return summary as BackupSummary;
  };
  const snapshots = async (): Promise<Snapshot[]> => JSON.parse((await restic(['snapshots', '--json'])).stdout) as Snapshot[];
  // run inside the source, so the snapshot's root is the tree itself
  const backup = async (): Promise<BackupSummary> => summaryOf(await restic(['backup', '--json', '--host', 'vm1', '.'], 90_000, source));

  beforeAll(async () => {
    ferry = await FerryUnderTest.start();
    tenant = await ferry.tenant('restic');
    ws = await Workspace.create('restic');
    repo = `s3:${ferry.s3Endpoint}/${BUCKET}/${PREFIX}`;
    source = ws.path('source');
    // many small files, a few medium ones, and one large enough to fill a whole 16 MiB pack
    await writeTree(source, { count: 200, maxBytes: 40_000 });
    for (let index = 0; index < 4; index++) await writeRandomFile(ws.path('source', 'media', `clip-${index}.bin`), 1 * MiB + index * 777_777);
    await writeRandomFile(ws.path('source', 'images', 'disk image.img'), 20 * MiB + 4321);
  });

  afterAll(async () => {
    await ferry?.stop();
    await ws?.remove();
  });

  it('initialises a repository under a prefix', async () => {
    const result = await restic(['init']);
    expect(result.stdout).toContain('created restic repository');
    expect(await listKeys(`${PREFIX}/config`)).toEqual([`${PREFIX}/config`]);
    expect(await listKeys(`${PREFIX}/keys/`)).toHaveLength(1);
  });

  it('backs up a tree, checks every pack, and restores it byte for byte', async () => {
    const sourceHashes = await hashTree(source);
    const summary = await backup();
    expect(summary.files_new).toBe(Object.keys(sourceHashes).length);
    expect(summary.total_files_processed).toBe(Object.keys(sourceHashes).length);
    firstSnapshot = summary.snapshot_id;

    const check = await restic(['check', '--read-data'], 90_000);
    expect(check.stdout).toContain('no errors were found');

    const listed = await snapshots();
    expect(listed.map((snapshot) => snapshot.short_id)).toEqual([firstSnapshot]);
    expect(listed[0]!.paths).toEqual([source]);

    await restic(['restore', 'latest', '--target', ws.path('restore-1')], 90_000);
    expect(await hashTree(ws.path('restore-1'))).toEqual(sourceHashes);
    // the large file made at least one pack above the 16 MiB target; restic 0.14 still sends it as
    // one PutObject (it sets minio-go's PartSize to 200 MiB), so this is a large single PUT, not multipart
    const packs = await listSizes(`${PREFIX}/data/`);
    expect(Math.max(...packs)).toBeGreaterThan(16 * MiB);
  }, 300_000);

  it('backs up changes as a second snapshot and restores that one byte for byte', async () => {
    expect(firstSnapshot, 'the first backup failed').toBeDefined();
    const later = new Date();
    // three changed files (one of them the large one, rewritten at its start), one new, one gone
    const large = await open(ws.path('source', 'images', 'disk image.img'), 'r+');
    await large.write(randomBytes(MiB), 0, MiB, 0);
    await large.close();
    await writeFileAt(ws.path('source', 'with space.txt'), randomBytes(5000));
    await writeFileAt(ws.path('source', 'équipe', 'résumé café.txt'), Buffer.from('rewritten'));
    for (const path of ['images/disk image.img', 'with space.txt', 'équipe/résumé café.txt']) await utimes(ws.path('source', path), later, later);
    await writeFileAt(ws.path('source', 'new', 'fresh file.txt'), randomBytes(12_345));
    await rm(ws.path('source', 'media', 'clip-3.bin'));
    secondHashes = await hashTree(source);

    const summary = await backup();
    expect(summary).toMatchObject({ files_new: 1, files_changed: 3, files_unmodified: Object.keys(secondHashes).length - 4 });
    secondSnapshot = summary.snapshot_id;
    expect((await snapshots()).map((snapshot) => snapshot.short_id)).toEqual([firstSnapshot, secondSnapshot]);

    await restic(['restore', secondSnapshot, '--target', ws.path('restore-2')], 90_000);
    expect(await hashTree(ws.path('restore-2'))).toEqual(secondHashes);
  }, 300_000);

  it('forgets the first snapshot with --prune, and the repository still checks and restores', async () => {
    expect(secondSnapshot, 'the second backup failed').toBeDefined();
    const packsBefore = await listKeys(`${PREFIX}/data/`);
    const forget = await restic(['forget', firstSnapshot!, '--prune'], 120_000);
    expect(forget.stdout).toContain('1 snapshots have been removed, running prune');
    expect(forget.stdout).toMatch(/removing \d+ old packs/);
    expect((await snapshots()).map((snapshot) => snapshot.short_id)).toEqual([secondSnapshot]);
    // the deleted clip and the overwritten MiB are garbage now: prune removed or repacked packs
    expect(await listKeys(`${PREFIX}/data/`)).not.toEqual(packsBefore);

    const check = await restic(['check', '--read-data'], 90_000);
    expect(check.stdout).toContain('no errors were found');
    await restic(['restore', 'latest', '--target', ws.path('restore-3')], 90_000);
    expect(await hashTree(ws.path('restore-3'))).toEqual(secondHashes);
    expect(await listKeys(`${PREFIX}/locks/`)).toEqual([]);
  }, 300_000);

  it('reports usage that matches the bucket and has every byte forwarded to Blob', async () => {
    const usage = await expectAllForwarded(ferry, tenant);
    expect(usage.logicalBytes).toBeGreaterThan(20 * MiB);
  }, 60_000);

  async function listing(prefix: string): Promise<{ key: string; size: number }[]> {
    const objects: { key: string; size: number }[] = [];
    let token: string | undefined;
    do {
      const page = await tenant.s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }));
      objects.push(...(page.Contents ?? []).map((object) => ({ key: object.Key!, size: object.Size! })));
      token = page.NextContinuationToken;
    } while (token);
    return objects;
  }

  async function listKeys(prefix: string): Promise<string[]> {
    return (await listing(prefix)).map((object) => object.key).sort();
  }

  async function listSizes(prefix: string): Promise<number[]> {
    return (await listing(prefix)).map((object) => object.size);
  }
});
