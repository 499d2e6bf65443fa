import { expect } from 'vitest';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { ListBucketsCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { eventually, type FerryUnderTest, type TenantSession } from './ferry.js';

/*
 * Helpers for driving the real command-line clients (aws, rclone, restic) against a Ferry running
 * in this very process. Every call is asynchronous: a synchronous spawn would block the event loop
 * that serves the client's requests, and the test would deadlock.
 */

export interface CliResult {
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  env: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

const tail = (text: string, max = 6000) => (text.length > max ? `…${text.slice(-max)}` : text);

/** Raised when a client exits non-zero or overruns its timeout; the message carries its output. */
export class CliFailure extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | null,
    readonly signal: string | null,
    readonly timedOut: boolean,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(
      `${command}\n  ${timedOut ? 'timed out (killed)' : `exited with ${exitCode ?? signal}`}\n` +
        `--- stderr ---\n${tail(stderr) || '(empty)'}\n--- stdout ---\n${tail(stdout, 2000) || '(empty)'}`,
    );
    this.name = 'CliFailure';
  }
}

/** Runs a client to completion; resolves with its output on exit 0, rejects with a CliFailure otherwise. */
export function run(file: string, args: string[], options: CliOptions): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const command = [file, ...args].map((arg) => (/[\s'"]/.test(arg) ? JSON.stringify(arg) : arg)).join(' ');
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { env: options.env, cwd: options.cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (!error) return resolve({ stdout, stderr });
        const failure = error as NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string | null };
        const timedOut = failure.killed === true && Date.now() - started >= timeoutMs;
        reject(
          new CliFailure(command, typeof failure.code === 'number' ? failure.code : null, failure.signal ?? null, timedOut, stdout, stderr || String(error)),
        );
      },
    );
  });
}

/** A scratch directory for one test file: the clients' HOME, their caches and the trees they move. */
export class Workspace {
  private constructor(readonly root: string) {}

  static async create(label: string): Promise<Workspace> {
    const root = await mkdtemp(join(tmpdir(), `ferry-${label}-`));
    await mkdir(join(root, 'home'), { recursive: true });
    await mkdir(join(root, 'tmp'), { recursive: true });
    return new Workspace(root);
  }

  get home(): string {
    return join(this.root, 'home');
  }

  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }

  /**
   * A minimal environment built from nothing, so neither the developer's nor CI's settings
   * (proxies, AWS profiles, rclone remotes, restic repositories, the pyenv `aws` shim) leak in.
   */
  env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: '/usr/bin:/bin',
      HOME: this.home,
      TMPDIR: this.path('tmp'),
      LANG: 'C.UTF-8',
      LC_ALL: 'C.UTF-8',
      ...extra,
    };
  }

  async remove(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** Environment for `/usr/bin/aws` signed as the tenant, with no config files of its own. */
export function awsEnv(workspace: Workspace, tenant: TenantSession): NodeJS.ProcessEnv {
  return workspace.env({
    AWS_ACCESS_KEY_ID: tenant.accessKeyId,
    AWS_SECRET_ACCESS_KEY: tenant.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: workspace.path('home', 'aws-config-none'),
    AWS_SHARED_CREDENTIALS_FILE: workspace.path('home', 'aws-credentials-none'),
    AWS_PAGER: '',
    // one attempt: a retried 5xx would hide a gateway fault behind a green test
    AWS_MAX_ATTEMPTS: '1',
  });
}

/** Writes an rclone config with one remote, `ferry`, and returns its path. */
export async function writeRcloneConfig(workspace: Workspace, ferry: FerryUnderTest, tenant: TenantSession): Promise<string> {
  const path = workspace.path('home', 'rclone.conf');
  await writeFile(
    path,
    [
      '[ferry]',
      'type = s3',
      'provider = Other',
      `access_key_id = ${tenant.accessKeyId}`,
      `secret_access_key = ${tenant.secretAccessKey}`,
      `endpoint = ${ferry.s3Endpoint}`,
      'region = us-east-1',
      'force_path_style = true',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return path;
}

export interface TreeFile {
  path: string;
  size: number;
}

/**
 * Names a backup tool meets in real trees: nested directories, spaces, accents, CJK, emoji and
 * the characters SigV4 canonicalisation gets wrong most often (`+`, `=`, `&`, parentheses).
 */
export const AWKWARD_NAMES = [
  'with space.txt',
  'plus+sign.txt',
  'équipe/résumé café.txt',
  '日本語/ファイル 一.bin',
  'emoji 🚀/rocket ✓.dat',
  'maths/a=b&c (1).txt',
  'deep/er/and/deeper/still/bottom.txt',
];

/*
 * Sync tools compare a file's mtime with the object's (second-precision) LastModified; a file
 * written in the same second as its upload could look newer than its copy and be sent again.
 * Real backup sources are older than the backup, so the trees are dated an hour back.
 */
const AN_HOUR_AGO = () => new Date(Date.now() - 3600_000);

/**
 * Writes `count` random files spread over nested directories (every `emptyEvery`th one empty)
 * plus the awkward names, and returns every file with its size.
 */
export async function writeTree(root: string, options: { count: number; maxBytes: number; emptyEvery?: number }): Promise<TreeFile[]> {
  const files: TreeFile[] = [];
  const emptyEvery = options.emptyEvery ?? 17;
  for (let index = 0; index < options.count; index++) {
    const dir = join(`d${index % 5}`, index % 3 === 0 ? `sub ${index % 4}` : '', index % 7 === 0 ? 'ünïcödé' : '');
    const path = join(dir, `file-${String(index).padStart(4, '0')}.bin`);
    const size = index % emptyEvery === 0 ? 0 : 1 + ((index * 7919) % options.maxBytes);
    files.push({ path, size });
  }
  AWKWARD_NAMES.forEach((path, index) => files.push({ path, size: index === 1 ? 0 : 100 + index * 333 }));
  for (const file of files) {
    await writeFileAt(join(root, file.path), randomBytes(file.size));
    await utimes(join(root, file.path), AN_HOUR_AGO(), AN_HOUR_AGO());
  }
  return files;
}

export async function writeFileAt(path: string, data: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

/** Writes `size` random bytes in 1 MiB slices (no 40 MiB buffer in memory) and returns its sha256. */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const handle = await open(path, 'w');
  const hash = createHash('sha256');
  try {
    for (let written = 0; written < size; ) {
      const slice = randomBytes(Math.min(1024 * 1024, size - written));
      hash.update(slice);
      await handle.write(slice);
      written += slice.length;
    }
  } finally {
    await handle.close();
  }
  await utimes(path, AN_HOUR_AGO(), AN_HOUR_AGO());
  return hash.digest('hex');
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file under `root` (relative path → sha256), and every directory as `<dir>/` → 'dir'. */
export async function hashTree(root: string, options: { dirs?: boolean } = {}): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      const rel = relative(root, full);
      if (entry.isDirectory()) {
        if (options.dirs) result[`${rel}/`] = 'dir';
        await walk(full);
      } else if (entry.isFile()) {
        result[rel] = await sha256File(full);
      } else {
        result[rel] = `unexpected ${entry.isSymbolicLink() ? 'symlink' : 'special file'}`;
      }
    }
  };
  await walk(root);
  return result;
}

/** Every object of every bucket the tenant owns, listed through the SDK (independent of the CLI under test). */
export async function listAll(s3: S3Client): Promise<{ bucket: string; key: string; size: number }[]> {
  const objects: { bucket: string; key: string; size: number }[] = [];
  const buckets = await s3.send(new ListBucketsCommand({}));
  for (const { Name } of buckets.Buckets ?? []) {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: Name!, ContinuationToken: token }));
      for (const object of page.Contents ?? []) objects.push({ bucket: Name!, key: object.Key!, size: object.Size! });
      token = page.NextContinuationToken;
    } while (token);
  }
  return objects;
}

export interface Usage {
  quotaBytes: number;
  logicalBytes: number;
  storedBytes: number;
  pendingBytes: number;
  objects: number;
  dedupRatio: number | null;
  compressionRatio: number | null;
}

export async function usage(ferry: FerryUnderTest, tenantId: string): Promise<Usage> {
  const response = await ferry.admin('GET', `/admin/v1/tenants/${tenantId}/usage`);
  if (response.status !== 200) throw new Error(`usage: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body as Usage;
}

/**
 * The tenant's usage once the worker has caught up: what the admin API reports must match what
 * S3 lists, and every byte must have been repacked into the tenant's Blob container.
 */
export async function forwardedUsage(ferry: FerryUnderTest, tenant: TenantSession, timeoutMs = 45_000): Promise<{ usage: Usage; listed: number; listedObjects: number }> {
  const listing = await listAll(tenant.s3);
  const listed = listing.reduce((sum, object) => sum + object.size, 0);
  let last: Usage | undefined;
  await eventually(async () => {
    last = await usage(ferry, tenant.id);
    return last.pendingBytes === 0;
  }, timeoutMs, 250);
  return { usage: last!, listed, listedObjects: listing.length };
}

/**
 * Usage must match what the bucket lists, and every logical byte must have reached Blob.
 * Returns the usage for client-specific checks.
 */
export async function expectAllForwarded(ferry: FerryUnderTest, tenant: TenantSession): Promise<Usage> {
  const { usage, listed, listedObjects } = await forwardedUsage(ferry, tenant);
  expect(usage.logicalBytes).toBeGreaterThan(0);
  expect(usage.logicalBytes).toBe(listed);
  expect(usage.objects).toBe(listedObjects);
  expect(usage.pendingBytes).toBe(0);
  expect(usage.storedBytes).toBeGreaterThan(0);
  return usage;
}

/** The S3 multipart ETag of a file cut into `partSize` parts: md5 of the parts' md5s, then `-<parts>`. */
export async function multipartEtag(path: string, partSize: number): Promise<string> {
  const digests: Buffer[] = [];
  let part = createHash('md5');
  let inPart = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
    let data = chunk as Buffer;
    while (data.length > 0) {
      const take = Math.min(partSize - inPart, data.length);
      part.update(data.subarray(0, take));
      inPart += take;
      data = data.subarray(take);
      if (inPart === partSize) {
        digests.push(part.digest());
        part = createHash('md5');
        inPart = 0;
      }
    }
  }
  if (inPart > 0) digests.push(part.digest());
  return `"${createHash('md5').update(Buffer.concat(digests)).digest('hex')}-${digests.length}"`;
}

export const MiB = 1024 * 1024;
