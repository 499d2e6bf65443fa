import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BlobServiceClient, RestError } from '@azure/storage-blob';
import type { Logger } from '@ferry/common';
import { BlobStore } from '@ferry/storage';

const MiB = 1024 * 1024;
const run = promisify(execFile);

describe('BlobStore.readRange: ranged reads into the caller\'s buffer (real Azurite)', () => {
  const container = `ranges-${randomBytes(4).toString('hex')}`;
  const blob = randomBytes(20 * MiB + 123);
  let store: BlobStore;

  beforeAll(async () => {
    store = new BlobStore(inject('azurite'));
    await store.putBuffers(container, 'packs/one', [blob]);
  });
  afterAll(async () => {
    store.ranges.close();
    await BlobServiceClient.fromConnectionString(inject('azurite')).getContainerClient(container).deleteIfExists();
  });

  it('reads any range exactly, by the fast path, into a slab or a buffer of its own', async () => {
    const served = store.ranges.served;
    const slab = Buffer.alloc(9 * MiB, 0xee);
    for (const [offset, count] of [[0, 1], [0, 8 * MiB], [5 * MiB + 7, 3 * MiB + 1], [blob.length - 1, 1], [blob.length - 270_000, 270_000]]) {
      const viaSlab = await store.readRange(container, 'packs/one', offset, count, slab);
      expect(viaSlab.buffer).toBe(slab.buffer);
      expect(viaSlab.equals(blob.subarray(offset, offset + count))).toBe(true);
      const own = await store.readRange(container, 'packs/one', offset, count);
      expect(own.equals(blob.subarray(offset, offset + count))).toBe(true);
    }
    // the slab's bytes past the range are untouched
    expect(slab[8 * MiB]).toBe(0xee);
    expect(store.ranges.served - served).toBe(10);
    expect(store.ranges.declined).toBe(0);
  });

  it('serves many reads at once over kept-alive connections, each into its own buffer', async () => {
    const reads = Array.from({ length: 24 }, (_, i) => ({ offset: (i * 797_003) % (blob.length - MiB), count: MiB - i }));
    const got = await Promise.all(reads.map(({ offset, count }) => store.readRange(container, 'packs/one', offset, count)));
    got.forEach((bytes, i) => expect(bytes.equals(blob.subarray(reads[i].offset, reads[i].offset + reads[i].count))).toBe(true));
    // and again once Azurite may have closed the idle connections (its keep-alive is 5 s, ours 3 s)
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect((await store.readRange(container, 'packs/one', 42, 4096)).equals(blob.subarray(42, 4138))).toBe(true);
  });

  it('hands a missing blob and a range past the end to the SDK, whose errors stand', async () => {
    const declined = store.ranges.declined;
    const missing = await store.readRange(container, 'packs/none', 0, 10).catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(RestError);
    expect((missing as RestError).statusCode).toBe(404);
    await expect(store.readRange(container, 'packs/one', blob.length - 10, 20)).rejects.toThrow();
    expect(store.ranges.declined - declined).toBe(2);
  });
});

/**
 * An https endpoint that answers Get Blob ranges of one blob, with answers a test can spoil; the
 * account key is Azurite's well-known one, so the SDK makes a real SAS for it.
 */
describe('BlobRangeReader over https, against answers that are not the range asked for', () => {
  const blob = randomBytes(3 * MiB);
  let server: Server;
  let dir: string;
  let reader: BlobStore['ranges'];
  let spoil: 'none' | 'status200' | 'longer' | 'wrongRange' | 'cutBody' | 'closeAfter' = 'none';
  const seen: { path: string; range?: string; sas: boolean }[] = [];
  const warnings: { why: string; message: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-ranges-'));
    const certFile = join(dir, 'cert.pem');
    const keyFile = join(dir, 'key.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
    ]);
    const cert = await readFile(certFile);
    server = createHttpsServer({ cert, key: await readFile(keyFile) }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      seen.push({ path: url.pathname, range: req.headers.range, sas: url.searchParams.get('sr') === 'c' && url.searchParams.get('sp') === 'r' && !!url.searchParams.get('sig') });
      const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '') ?? [];
      const start = Number(from);
      const end = Number(to);
      let body = blob.subarray(start, end + 1);
      if (spoil === 'longer') body = blob.subarray(start, end + 2);
      const headers: Record<string, string | number> = { 'content-length': body.length, 'content-range': `bytes ${spoil === 'wrongRange' ? start + 1 : start}-${end}/${blob.length}` };
      if (spoil === 'closeAfter') res.shouldKeepAlive = false;
      res.writeHead(spoil === 'status200' ? 200 : 206, headers);
      if (spoil === 'cutBody') {
        res.write(body.subarray(0, 1000));
        res.socket?.destroy();
        return;
      }
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const key = /AccountKey=([^;]+)/.exec(inject('azurite'))![1];
    const connectionString = `DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;AccountKey=${key};BlobEndpoint=https://127.0.0.1:${port}/devstoreaccount1;`;
    const logger = { warn: (fields: { why: string }, message: string) => warnings.push({ ...fields, message }) } as unknown as Logger;
    reader = new BlobStore(connectionString, { ca: cert, logger }).ranges;
  });
  afterAll(async () => {
    reader.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  const readInto = async (offset: number, count: number) => {
    const into = Buffer.alloc(count);
    return { ok: await reader.read('c1', 'packs/a b', offset, into), into };
  };

  it('reads ranges over TLS with a read-only container SAS, on one kept-alive connection', async () => {
    spoil = 'none';
    seen.length = 0;
    for (const [offset, count] of [[0, MiB], [MiB + 5, 2 * MiB - 5], [100, 1]]) {
      const { ok, into } = await readInto(offset, count);
      expect(ok).toBe(true);
      expect(into.equals(blob.subarray(offset, offset + count))).toBe(true);
    }
    expect(seen.map((request) => [request.path, request.range, request.sas])).toEqual([
      ['/devstoreaccount1/c1/packs/a%20b', `bytes=0-${MiB - 1}`, true],
      ['/devstoreaccount1/c1/packs/a%20b', `bytes=${MiB + 5}-${3 * MiB - 1}`, true],
      ['/devstoreaccount1/c1/packs/a%20b', 'bytes=100-100', true],
    ]);
  });

  it('declines an answer that is not exactly the range, and is fine again afterwards', async () => {
    for (const kind of ['status200', 'longer', 'wrongRange', 'cutBody'] as const) {
      spoil = kind;
      const declined = reader.declined;
      expect((await readInto(2000, 5000)).ok, kind).toBe(false);
      expect(reader.declined - declined, kind).toBe(1);
    }
    // the operator hears of it, once a minute at most, with the first reason
    expect(warnings).toHaveLength(1);
    expect(warnings[0].why).toBe(`answer "HTTP/1.1 200 OK" (content-length 5000, content-range bytes 2000-6999/${blob.length}) for bytes 2000-6999`);
    spoil = 'none';
    const { ok, into } = await readInto(7, 70_000);
    expect(ok).toBe(true);
    expect(into.equals(blob.subarray(7, 70_007))).toBe(true);
  });

  it('opens a new connection when the server closes one, asked or not', async () => {
    spoil = 'closeAfter';
    for (let i = 0; i < 3; i++) expect((await readInto(i * 1000, 1000)).ok).toBe(true);
    spoil = 'none';
    const served = reader.served;
    // a server that drops the idle connection without saying so: the kept one fails unanswered
    server.closeAllConnections();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await readInto(0, 10)).ok).toBe(true);
    expect(reader.served - served).toBe(1);
  });
});
