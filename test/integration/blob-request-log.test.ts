import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import { startAzurite, type EmbeddedAzurite } from '../../apps/ferry/src/embedded/azurite.js';
import { BlobRequestLog, blobWrites, classify, countsBetween } from '../bench/blob-request-log.js';

/** The repack bench counts Blob requests from Azurite's access log: each kind, each container, none missed. */
describe("the repack bench's Blob request log", () => {
  const log = new BlobRequestLog();
  let azurite: EmbeddedAzurite;
  let service: BlobServiceClient;
  let endpoint: string;

  beforeAll(async () => {
    azurite = await startAzurite({ onLine: (line) => log.line(line) });
    service = BlobServiceClient.fromConnectionString(azurite.connectionString);
    endpoint = `http://127.0.0.1:${azurite.port}/devstoreaccount1`;
  });
  afterAll(() => azurite?.stop());

  it('counts what a client was answered, by container and kind, once settled', async () => {
    const counted = service.getContainerClient('counted');
    const other = service.getContainerClient('other');
    await counted.create();
    await other.create();
    await log.settled(endpoint);
    const before = log.snapshot();

    const single = counted.getBlockBlobClient('single');
    await single.upload(randomBytes(1000), 1000);
    const blocks = counted.getBlockBlobClient('blocks');
    const ids = ['a', 'b', 'c'].map((id) => Buffer.from(id.padEnd(8, '0')).toString('base64'));
    for (const id of ids) await blocks.stageBlock(id, randomBytes(100), 100);
    await blocks.commitBlockList(ids);
    // 24 at once: lines from many connections, all counted
    await Promise.all(Array.from({ length: 24 }, (_, i) => counted.getBlockBlobClient(`many-${i}`).upload(Buffer.from('x'), 1)));
    await single.download(0, 10).then((answer) => answer.readableStreamBody?.resume());
    await single.getProperties();
    await other.getBlockBlobClient('elsewhere').upload(Buffer.from('y'), 1);
    await counted.getBlockBlobClient('many-0').delete();
    await log.settled(endpoint);

    const delta = countsBetween(before, log.snapshot());
    expect(delta.counted.requests).toEqual({ putBlob: 25, putBlock: 3, putBlockList: 1, get: 1, head: 1, delete: 1 });
    expect(blobWrites(delta.counted)).toBe(29);
    expect(delta.other.requests).toEqual({ putBlob: 1 });
  });

  it('tells the kinds of requests apart as a Blob bill does', () => {
    expect(classify('PUT', '/acct/c?restype=container')).toBe('createContainer');
    expect(classify('PUT', '/acct/c/b?comp=block&blockid=AA%3D%3D')).toBe('putBlock');
    expect(classify('PUT', '/acct/c/b?comp=blocklist')).toBe('putBlockList');
    expect(classify('PUT', '/acct/c/b?comp=metadata')).toBe('otherPut');
    expect(classify('PUT', '/acct/c/b')).toBe('putBlob');
    expect(classify('PUT', '/acct/c/b', { 'x-ms-copy-source': 'http://x/acct/c/a' })).toBe('copyBlob');
    expect(classify('GET', '/acct/c?restype=container&comp=list')).toBe('get');
    expect(classify('OPTIONS', '/acct/c/b')).toBe('other');
  });

  it('settles only once its own marker request shows in the log', async () => {
    const deaf = new BlobRequestLog(); // fed no lines: its marker never shows
    await expect(deaf.settled(endpoint, 300)).rejects.toThrow(/did not show .*bench-log-marker-1 within 300 ms/);
    const late = new BlobRequestLog(); // its marker's line handed over late
    let done = false;
    const settling = late.settled(endpoint).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(done).toBe(false);
    late.line('127.0.0.1 - - [08/Dec/2026:01:02:03 +0000] "GET /devstoreaccount1/bench-log-marker-1 HTTP/1.1" 400 -');
    await settling;
    expect(late.snapshot()).toEqual({ 'bench-log-marker-1': { requests: { get: 1 } } });
  });

  it('passes over lines that are not access-log lines', () => {
    const quiet = new BlobRequestLog();
    quiet.line('Azurite Blob service is successfully listening at http://127.0.0.1:10000');
    quiet.line('');
    quiet.line('127.0.0.1 - - [08/Dec/2026:01:02:03 +0000] "PUT /devstoreaccount1/c/b?comp=block HTTP/1.1" 201 -');
    expect(quiet.snapshot()).toEqual({ c: { requests: { putBlock: 1 } } });
  });
});
