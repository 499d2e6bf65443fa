import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { hostOf, queryString, s3SignerFor, type Credentials } from './sigv4.js';
import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { toEnv, type ResolvedConfig } from '@ferry/config';
import { redisConnection } from '@ferry/queue';
import { bundleApps } from '../../scripts/bundle.mjs';
import { compileSources } from '../../scripts/compile.mjs';

export { objectPath, presign, s3Encode, type Credentials } from './sigv4.js';

/**
 * Fault-injection helpers for tests that must control every byte of a request (bad signatures,
 * malformed aws-chunked bodies, lying lengths), look behind the gateway (spool, Azurite, Redis), or
 * kill a worker process outright.
 */

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

export const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
export const md5Base64 = (data: Buffer | string): string => createHash('md5').update(data).digest('base64');

export interface RequestSpec {
  method: string;
  /** Already URI-encoded path, e.g. objectPath('backups', 'a b'). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  /** The bytes actually sent. */
  body?: Buffer;
  /** x-amz-content-sha256; defaults to the SHA-256 of `body`. */
  payloadHash?: string;
  /** Content-Length sent (and signed); defaults to body length. `null` sends none. */
  contentLength?: number | null;
  signingDate?: Date;
}

export interface SignedRequest {
  method: string;
  pathAndQuery: string;
  headers: Record<string, string>;
  /** The request's SigV4 signature: the seed of an aws-chunked chain. */
  signature: string;
  amzDate: string;
  body?: Buffer;
}

/** Signs a request with @smithy/signature-v4, an implementation independent of the gateway's verifier. */
export async function signRequest(endpoint: string, creds: Credentials, spec: RequestSpec): Promise<SignedRequest> {
  const { hostname, port, host } = hostOf(endpoint);
  const body = spec.body;
  const headers: Record<string, string> = { host, ...spec.headers };
  headers['x-amz-content-sha256'] ??= spec.payloadHash ?? sha256Hex(body ?? Buffer.alloc(0));
  const length = spec.contentLength === undefined ? body?.length : spec.contentLength;
  if (length !== null && length !== undefined) headers['content-length'] = String(length);
  const signed = await s3SignerFor(creds).sign(
    { method: spec.method, protocol: 'http:', hostname, port, path: spec.path, query: spec.query ?? {}, headers },
    { signingDate: spec.signingDate ?? new Date() },
  );
  const signedHeaders = signed.headers as Record<string, string>;
  const signature = /Signature=([0-9a-f]{64})/.exec(signedHeaders.authorization)![1];
  return {
    method: spec.method,
    pathAndQuery: spec.path + queryString(spec.query ?? {}),
    headers: signedHeaders,
    signature,
    amzDate: signedHeaders['x-amz-date'],
    body,
  };
}

/**
 * Sends exactly what it is given over a fresh connection with node:http (never a sync child
 * process: the server runs in this process). Resolves with the first response even when the
 * server answers early and closes while the body is still being written.
 */
export function rawHttp(
  endpoint: string,
  spec: { method: string; pathAndQuery: string; headers: Record<string, string>; body?: Buffer; timeoutMs?: number },
  /** Sends the body's first `afterBytes`, then waits for `during` before sending the rest. */
  pause?: { afterBytes: number; during: () => Promise<void> },
): Promise<RawResponse> {
  const { hostname, port } = hostOf(endpoint);
  return new Promise((resolvePromise, reject) => {
    let answered = false;
    const req = httpRequest({ hostname, port, method: spec.method, path: spec.pathAndQuery, headers: spec.headers, agent: false });
    const timer = setTimeout(() => {
      req.destroy(new Error(`no response within ${spec.timeoutMs ?? 15_000} ms`));
    }, spec.timeoutMs ?? 15_000);
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', () => undefined);
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolvePromise({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8') });
      });
    });
    req.on('error', (error) => {
      if (answered) return;
      clearTimeout(timer);
      reject(error);
    });
    if (spec.body && pause) {
      req.write(spec.body.subarray(0, pause.afterBytes));
      pause.during().then(
        () => req.end(spec.body!.subarray(pause.afterBytes)),
        (error: unknown) => req.destroy(error as Error),
      );
    } else if (spec.body) req.end(spec.body);
    else req.end();
  });
}

/** Signs and sends one request. */
export async function s3Request(endpoint: string, creds: Credentials, spec: RequestSpec): Promise<RawResponse> {
  const signed = await signRequest(endpoint, creds, spec);
  return rawHttp(endpoint, signed);
}

/** Asserts an S3 XML error: status, `<Code>`, content type, and no stack frames or internals in the body. */
export function expectS3Error(response: RawResponse, status: number, code: string): void {
  const summary = `${response.status} ${response.headers['content-type']} ${response.text.slice(0, 600)}`;
  expect(response.status, summary).toBe(status);
  expect(response.headers['content-type'], summary).toMatch(/^application\/xml/);
  expect(response.text, summary).toMatch(/^<\?xml[^>]*\?>\s*<Error>/);
  expect(/<Code>([^<]*)<\/Code>/.exec(response.text)?.[1], summary).toBe(code);
  expect(response.text, summary).not.toMatch(/\n\s+at |\bat .*\(.*:\d+:\d+\)|node_modules|\/work\//);
}

export const xmlCode = (text: string): string | undefined => /<Code>([^<]*)<\/Code>/.exec(text)?.[1];

// ---------------------------------------------------------------------------------------------
// aws-chunked bodies

const signingKeyOf = (secret: string, date: string): Buffer =>
  ['us-east-1', 's3', 'aws4_request'].reduce((key, part) => createHmac('sha256', key).update(part).digest(), createHmac('sha256', `AWS4${secret}`).update(date).digest());

/** Chains chunk signatures from a request's seed signature (STREAMING-AWS4-HMAC-SHA256-PAYLOAD). */
export class ChunkSigner {
  private previous: string;
  private readonly key: Buffer;
  constructor(
    secret: string,
    private readonly amzDate: string,
    seedSignature: string,
  ) {
    this.previous = seedSignature;
    this.key = signingKeyOf(secret, amzDate.slice(0, 8));
  }

  sign(chunk: Buffer): string {
    const scope = `${this.amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256-PAYLOAD', this.amzDate, scope, this.previous, sha256Hex(''), sha256Hex(chunk)].join('\n');
    this.previous = createHmac('sha256', this.key).update(stringToSign).digest('hex');
    return this.previous;
  }
}

/** `size;chunk-signature=sig\r\ndata\r\n` … `0;chunk-signature=sig\r\n\r\n`; `signature(i, chunk)` supplies each signature. */
export function signedChunkedBody(chunks: Buffer[], signature: (index: number, chunk: Buffer) => string): Buffer {
  const parts: Buffer[] = [];
  [...chunks, Buffer.alloc(0)].forEach((chunk, index) => {
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${signature(index, chunk)}\r\n`), chunk, Buffer.from('\r\n'));
  });
  return Buffer.concat(parts);
}

/** STREAMING-UNSIGNED-PAYLOAD-TRAILER framing: chunks, a zero chunk, trailers, a blank line. */
export function unsignedTrailerBody(chunks: Buffer[], trailers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const chunk of chunks) parts.push(Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n'));
  parts.push(Buffer.from('0\r\n'));
  for (const [name, value] of Object.entries(trailers)) parts.push(Buffer.from(`${name}:${value}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Looking behind the gateway

/** Every file under the spool (relative paths), empty when it does not exist yet. */
export async function spoolFiles(spoolDir: string): Promise<string[]> {
  try {
    const entries = await readdir(spoolDir, { recursive: true, withFileTypes: true });
    return entries
      .filter((entry) => entry.isFile())
      .map((entry) => relative(spoolDir, join(entry.parentPath, entry.name)))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

export interface BlobInfo {
  name: string;
  size: number;
}

/** Blobs in a container (committed only unless asked), empty when the container does not exist. */
/**
 * A container's blobs by name. The tenant's own record (`ferry/tenant`, written by a job after each
 * change to the tenant, at a moment of its own) is left out unless asked for: tests of the data
 * path compare the rest with the catalog.
 */
export async function listBlobs(config: ResolvedConfig, container: string, options: { uncommitted?: boolean; withTenantRecord?: boolean } = {}): Promise<BlobInfo[]> {
  const client = BlobServiceClient.fromConnectionString(config.azureConnectionString.reveal()).getContainerClient(container);
  if (!(await client.exists())) return [];
  const blobs: BlobInfo[] = [];
  for await (const blob of client.listBlobsFlat({ includeUncommitedBlobs: options.uncommitted ?? false })) {
    if (blob.name === 'ferry/tenant' && !options.withTenantRecord) continue;
    blobs.push({ name: blob.name, size: blob.properties.contentLength ?? 0 });
  }
  return blobs.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** Blocks staged but not yet committed on one blob (forwarding in progress). */
export async function uncommittedBlocks(config: ResolvedConfig, container: string, blobName: string): Promise<number> {
  const blob = BlobServiceClient.fromConnectionString(config.azureConnectionString.reveal())
    .getContainerClient(container)
    .getBlockBlobClient(blobName);
  try {
    const list = await blob.getBlockList('uncommitted');
    return list.uncommittedBlocks?.length ?? 0;
  } catch {
    return 0;
  }
}

export async function downloadBlob(config: ResolvedConfig, container: string, blobName: string): Promise<Buffer> {
  const blob = BlobServiceClient.fromConnectionString(config.azureConnectionString.reveal()).getContainerClient(container).getBlobClient(blobName);
  return blob.downloadToBuffer();
}

/** Deletes this run's BullMQ keys (`<prefix>:*`) with SCAN + DEL: never FLUSHALL, the server is shared. */
export async function flushQueueKeys(config: ResolvedConfig): Promise<number> {
  const redis = new Redis(config.redisUrl.reveal(), { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.queuePrefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return deleted;
}

export async function countQueueKeys(config: ResolvedConfig): Promise<number> {
  const redis = new Redis(config.redisUrl.reveal(), { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  let count = 0;
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.queuePrefix}:*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
  return count;
}

// ---------------------------------------------------------------------------------------------
// A worker in its own process, to kill with SIGKILL

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Builds the worker as `npm run build` does (compiled with swc, then bundled) into a private
 * temporary directory. Not `npm run build` itself: that empties the shared dist/ that other
 * processes may be running from, and compiles everyone's test files too. Returns the directory;
 * remove it when done.
 */
export async function buildWorkerBundle(): Promise<string> {
  const out = await mkdtemp(join(tmpdir(), 'ferry-worker-bundle-'));
  await writeFile(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(join(repoRoot, 'node_modules'), join(out, 'node_modules'), 'dir');
  await compileSources({ dirs: ['apps/worker/src', 'libs'], out, sourceMaps: false, skipSpecs: true });
  await bundleApps({ from: out, out: join(out, 'bundle'), apps: ['worker'], sourcemap: false });
  return out;
}

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts the bundled worker of a build with exactly the test's configuration as its environment. */
export function spawnWorker(bundle: string, config: ResolvedConfig): WorkerProcess {
  const child = spawn(process.execPath, [join(bundle, 'bundle', 'worker.js')], {
    cwd: bundle,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...toEnv(config) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolvePromise) =>
    child.once('exit', (code, signal) => resolvePromise({ code, signal })),
  );
  return {
    child,
    output: () => output,
    exited,
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

export async function removeDir(dir: string | undefined): Promise<void> {
  if (dir) await rm(dir, { recursive: true, force: true });
}

/**
 * Fast-forwards BullMQ's crash recovery. A SIGKILLed worker's jobs stay "active" until their lock
 * (lockDuration, 30 s) expires and the stalled check, which one worker runs at most once per
 * stalledInterval (30 s, gated by the queue's `stalled-check` key), has seen them twice: 30–60 s of
 * wall time. This deletes the dead worker's job locks (what their expiry would do) and runs the
 * stalled check every 250 ms (clearing the gate), so the real recovery path (stalled → waiting →
 * processed again by a live worker) runs in about a second. Call only after the worker died.
 */
export async function hurryStalledJobs(config: ResolvedConfig, queue: string): Promise<{ locksRemoved: number; stop: () => Promise<void> }> {
  const redis = new Redis(config.redisUrl.reveal(), { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  const base = `${config.queuePrefix}:${queue}`;
  let locksRemoved = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${base}:*:lock`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) locksRemoved += await redis.del(...keys);
  } while (cursor !== '0');
  const checker = new Worker(queue, undefined, {
    connection: redisConnection(config.redisUrl.reveal()),
    prefix: config.queuePrefix,
    autorun: false,
  });
  await checker.waitUntilReady();
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      await redis.del(`${base}:stalled-check`);
      await (checker as unknown as { moveStalledJobsToWait(): Promise<unknown> }).moveStalledJobsToWait();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })();
  return {
    locksRemoved,
    stop: async () => {
      stopped = true;
      await loop;
      await checker.close();
      redis.disconnect();
    },
  };
}
