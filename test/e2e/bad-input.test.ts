import { createHash, randomBytes } from 'node:crypto';
import { watch } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DataSource } from 'typeorm';
import { eventually, FerryUnderTest, type TenantSession } from '../support/ferry.js';
import {
  ChunkSigner,
  expectS3Error,
  md5Base64,
  objectPath,
  presign,
  rawHttp,
  s3Request,
  sha256Hex,
  signedChunkedBody,
  signRequest,
  spoolFiles,
  unsignedTrailerBody,
  xmlCode,
  type RawResponse,
} from '../support/faults.js';

const crc32Base64 = (data: Buffer): string => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(data));
  return out.toString('base64');
};

const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const KEEP = 'keep.bin';

describe('bad input: every malformed request is the right S3 error and changes nothing', () => {
  let ferry: FerryUnderTest;
  let alice: TenantSession;
  let db: DataSource;
  const keepBody = randomBytes(48 * 1024);

  /** Catalog rows and spool files, to prove a refused request left no trace. */
  const snapshot = async () => ({
    rows: (await db.query(`SELECT id, key, etag, size, spool FROM objects ORDER BY key`)) as unknown[],
    uploads: (await db.query(`SELECT id FROM multipart_uploads ORDER BY id`)) as unknown[],
    parts: (await db.query(`SELECT upload_id, part_number, etag, spool_path FROM multipart_parts ORDER BY upload_id, part_number`)) as unknown[],
    buckets: (await db.query(`SELECT name FROM buckets ORDER BY name`)) as unknown[],
    spool: await spoolFiles(ferry.config.spoolDir),
  });

  /** Spool files that no object row or pending garbage entry accounts for. */
  const orphanSpoolFiles = async () => {
    const rows = (await db.query(`SELECT spool FROM objects WHERE spool IS NOT NULL`)) as { spool: { path: string }[] }[];
    const parts = (await db.query(`SELECT spool_path FROM multipart_parts`)) as { spool_path: string }[];
    const garbage = (await db.query(`SELECT spool_path FROM garbage WHERE spool_path IS NOT NULL`)) as { spool_path: string }[];
    const known = new Set([...rows.flatMap((row) => row.spool.map((segment) => segment.path)), ...parts.map((p) => p.spool_path), ...garbage.map((g) => g.spool_path)]);
    return (await spoolFiles(ferry.config.spoolDir)).filter((file) => !known.has(file));
  };

  /** Runs a refused request and checks that the catalog, the spool and the kept object are exactly as before. */
  async function unchanged(run: () => Promise<void>): Promise<void> {
    // an earlier request cut off at the HTTP layer may still be removing its spool file
    await eventually(async () => (await orphanSpoolFiles()).length === 0, 5_000, 50);
    const before = await snapshot();
    await run();
    // likewise for this test's own requests: the client may hear back before the server has cleaned up
    await eventually(async () => isDeepStrictEqual(await snapshot(), before), 5_000, 50);
    expect(await snapshot()).toEqual(before);
    const got = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: KEEP }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(keepBody)).toBe(true);
  }

  const put = (key: string, body: Buffer, spec: { headers?: Record<string, string>; payloadHash?: string; contentLength?: number | null; signingDate?: Date } = {}) =>
    s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', key), body, ...spec });

  beforeAll(async () => {
    // no worker: nothing moves files or rows behind the test's back
    ferry = await FerryUnderTest.start({ worker: false });
    alice = await ferry.tenant('alice');
    db = ferry.gateway.app.get(DataSource);
    await alice.s3.send(new CreateBucketCommand({ Bucket: 'backups' }));
    await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: KEEP, Body: keepBody }));
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  it('positive controls: the hand-built requests below are accepted when they are right', async () => {
    const body = Buffer.from('hand signed body');
    expect((await put('control/sha256', body)).status).toBe(200);
    expect((await put('control/unsigned', body, { payloadHash: 'UNSIGNED-PAYLOAD' })).status).toBe(200);
    expect((await put('control/md5', body, { headers: { 'content-md5': md5Base64(body) } })).status).toBe(200);
    expect((await put('control/crc32', body, { headers: { 'x-amz-checksum-crc32': crc32Base64(body) } })).status).toBe(200);
    const chunked = await putSignedChunked('control/chunked', [randomBytes(70_000), randomBytes(1000)]);
    expect(chunked.response.status, chunked.response.text).toBe(200);
    const data = randomBytes(10_000);
    const trailer = await putUnsignedTrailer('control/trailer', [data], crc32Base64(data));
    expect(trailer.status, trailer.text).toBe(200);
    const url = await presign(ferry.s3Endpoint, alice, { method: 'GET', path: objectPath('backups', 'control/sha256'), expiresIn: 60 });
    const presigned = await rawHttp(ferry.s3Endpoint, { method: 'GET', pathAndQuery: url, headers: {} });
    expect(presigned.status, presigned.text).toBe(200);
    expect(presigned.text).toBe('hand signed body');
    const got = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'control/chunked' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(Buffer.concat(chunked.chunks))).toBe(true);
  });

  /** A signed aws-chunked PUT; `corrupt` replaces chunk i's signature with a wrong one. */
  async function putSignedChunked(key: string, chunks: Buffer[], options: { corrupt?: number; decodedLength?: number } = {}) {
    const decoded = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const placeholder = signedChunkedBody(chunks, () => '0'.repeat(64));
    const signed = await signRequest(ferry.s3Endpoint, alice, {
      method: 'PUT',
      path: objectPath('backups', key),
      payloadHash: STREAMING_SIGNED,
      contentLength: placeholder.length,
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(options.decodedLength ?? decoded) },
    });
    const signer = new ChunkSigner(alice.secretAccessKey, signed.amzDate, signed.signature);
    const body = signedChunkedBody(chunks, (index, chunk) => {
      const signature = signer.sign(chunk);
      return index === options.corrupt ? sha256Hex(`forged ${index}`) : signature;
    });
    expect(body.length).toBe(placeholder.length);
    return { response: await rawHttp(ferry.s3Endpoint, { ...signed, body }), chunks };
  }

  async function putUnsignedTrailer(key: string, chunks: Buffer[], checksum: string, options: { decodedLength?: number } = {}): Promise<RawResponse> {
    const decoded = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
    const body = unsignedTrailerBody(chunks, { 'x-amz-checksum-crc32': checksum });
    return put(key, body, {
      payloadHash: STREAMING_UNSIGNED_TRAILER,
      headers: {
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': String(options.decodedLength ?? decoded),
        'x-amz-trailer': 'x-amz-checksum-crc32',
      },
    });
  }

  it('a bad request signature is SignatureDoesNotMatch (403) and stores nothing', async () => {
    await unchanged(async () => {
      const signed = await signRequest(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', KEEP), body: Buffer.from('forged overwrite') });
      const flipped = signed.headers.authorization.replace(/Signature=([0-9a-f])/, (_m, c: string) => `Signature=${c === 'a' ? 'b' : 'a'}`);
      expectS3Error(await rawHttp(ferry.s3Endpoint, { ...signed, headers: { ...signed.headers, authorization: flipped } }), 403, 'SignatureDoesNotMatch');
      // the path changed after signing
      expectS3Error(
        await rawHttp(ferry.s3Endpoint, { ...signed, pathAndQuery: objectPath('backups', 'victim'), headers: signed.headers }),
        403,
        'SignatureDoesNotMatch',
      );
    });
  });

  it('an expired presigned URL is AccessDenied (403)', async () => {
    await unchanged(async () => {
      const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
      const getUrl = await presign(ferry.s3Endpoint, alice, { method: 'GET', path: objectPath('backups', KEEP), expiresIn: 60, signingDate: twoHoursAgo });
      const got = await rawHttp(ferry.s3Endpoint, { method: 'GET', pathAndQuery: getUrl, headers: {} });
      expectS3Error(got, 403, 'AccessDenied');
      expect(got.body.includes(keepBody.subarray(0, 16))).toBe(false);
      const putUrl = await presign(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', KEEP), expiresIn: 60, signingDate: twoHoursAgo });
      expectS3Error(
        await rawHttp(ferry.s3Endpoint, { method: 'PUT', pathAndQuery: putUrl, headers: { 'content-length': '7' }, body: Buffer.from('expired') }),
        403,
        'AccessDenied',
      );
    });
  });

  it('a clock skewed by more than 15 minutes is RequestTimeTooSkewed (403)', async () => {
    await unchanged(async () => {
      for (const skew of [-20 * 60_000, 20 * 60_000]) {
        expectS3Error(await put(KEEP, Buffer.from('skewed'), { signingDate: new Date(Date.now() + skew) }), 403, 'RequestTimeTooSkewed');
      }
    });
  });

  it('a bad chunk signature in a STREAMING-AWS4-HMAC-SHA256-PAYLOAD body is SignatureDoesNotMatch and leaves no spool file', async () => {
    await unchanged(async () => {
      const chunks = [randomBytes(64 * 1024), randomBytes(64 * 1024), randomBytes(100)];
      for (const corrupt of [0, 1, 3]) {
        const { response } = await putSignedChunked(KEEP, chunks, { corrupt });
        expectS3Error(response, 403, 'SignatureDoesNotMatch');
      }
      // chunks reordered: each signature is valid for its bytes, but not in this chain
      const placeholder = signedChunkedBody(chunks, () => '0'.repeat(64));
      const signed = await signRequest(ferry.s3Endpoint, alice, {
        method: 'PUT',
        path: objectPath('backups', 'victim'),
        payloadHash: STREAMING_SIGNED,
        contentLength: placeholder.length,
        headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(64 * 1024 * 2 + 100) },
      });
      const signer = new ChunkSigner(alice.secretAccessKey, signed.amzDate, signed.signature);
      const signatures = [...chunks, Buffer.alloc(0)].map((chunk) => signer.sign(chunk));
      const swapped = [chunks[1], chunks[0], chunks[2]];
      const body = signedChunkedBody(swapped, (index) => (index < 2 ? signatures[1 - index] : signatures[index]));
      expectS3Error(await rawHttp(ferry.s3Endpoint, { ...signed, body }), 403, 'SignatureDoesNotMatch');
    });
    expect((await s3Request(ferry.s3Endpoint, alice, { method: 'HEAD', path: objectPath('backups', 'victim') })).status).toBe(404);
  });

  it('a wrong x-amz-checksum-crc32 header is BadDigest (400)', async () => {
    await unchanged(async () => {
      const body = Buffer.from('the real bytes');
      expectS3Error(await put(KEEP, body, { headers: { 'x-amz-checksum-crc32': crc32Base64(Buffer.from('other bytes')) } }), 400, 'BadDigest');
      expectS3Error(await put('victim', body, { headers: { 'x-amz-checksum-crc32': crc32Base64(Buffer.from('other bytes')) } }), 400, 'BadDigest');
    });
  });

  it('a wrong trailing checksum (STREAMING-UNSIGNED-PAYLOAD-TRAILER) is BadDigest (400)', async () => {
    await unchanged(async () => {
      const data = randomBytes(100_000);
      const response = await putUnsignedTrailer(KEEP, [data.subarray(0, 65536), data.subarray(65536)], crc32Base64(Buffer.from('not the data')));
      expectS3Error(response, 400, 'BadDigest');
    });
  });

  it('a wrong Content-MD5 is BadDigest, a malformed one InvalidDigest (400)', async () => {
    await unchanged(async () => {
      const body = Buffer.from('content md5 checked');
      expectS3Error(await put(KEEP, body, { headers: { 'content-md5': md5Base64('something else') } }), 400, 'BadDigest');
      expectS3Error(await put(KEEP, body, { headers: { 'content-md5': 'not-an-md5' } }), 400, 'InvalidDigest');
      expectS3Error(await put('victim', body, { headers: { 'content-md5': Buffer.alloc(15).toString('base64') } }), 400, 'InvalidDigest');
    });
  });

  it('a body that does not match a signed x-amz-content-sha256 is XAmzContentSHA256Mismatch (400)', async () => {
    await unchanged(async () => {
      const body = Buffer.from('what was sent');
      expectS3Error(await put(KEEP, body, { payloadHash: sha256Hex('what was signed') }), 400, 'XAmzContentSHA256Mismatch');
      // a body bigger than one spool write buffer, so the file was really written before the check
      const big = randomBytes(3 * 1024 * 1024);
      expectS3Error(await put('victim', big, { payloadHash: sha256Hex(big.subarray(1)) }), 400, 'XAmzContentSHA256Mismatch');
    });
  });

  it('a body shorter than x-amz-decoded-content-length is IncompleteBody (400)', async () => {
    await unchanged(async () => {
      const chunks = [randomBytes(4000)];
      const { response } = await putSignedChunked(KEEP, chunks, { decodedLength: 5000 });
      expectS3Error(response, 400, 'IncompleteBody');
      const data = randomBytes(4000);
      expectS3Error(await putUnsignedTrailer('victim', [data], crc32Base64(data), { decodedLength: 4001 }), 400, 'IncompleteBody');
    });
  });

  it('a body that ends before its Content-Length is IncompleteBody (client half-closes)', async () => {
    await unchanged(async () => {
      const body = randomBytes(10_000);
      const signed = await signRequest(ferry.s3Endpoint, alice, {
        method: 'PUT',
        path: objectPath('backups', KEEP),
        body,
        payloadHash: 'UNSIGNED-PAYLOAD',
        contentLength: body.length + 5000,
      });
      const response = await halfClosedRequest(ferry.s3Endpoint, signed.method, signed.pathAndQuery, signed.headers, body);
      // S3 answers IncompleteBody when the sender stops short and says so by closing its side
      expect(response, 'no response to a half-closed request').toMatch(/^HTTP\/1\.1 400/);
      expect(xmlCode(response), JSON.stringify(response)).toBe('IncompleteBody');
      expect(response).toMatch(/\r\ncontent-type: application\/xml/i);
    });
  });

  it('a body longer than declared is refused and stores nothing', async () => {
    await unchanged(async () => {
      // aws-chunked: the chunks carry more than x-amz-decoded-content-length
      const { response } = await putSignedChunked(KEEP, [randomBytes(3000), randomBytes(3000)], { decodedLength: 4000 });
      expect(response.status).toBe(400);
      expect(['InvalidRequest', 'IncompleteBody']).toContain(xmlCode(response.text));
      expectS3Error(response, 400, xmlCode(response.text)!);
      const data = randomBytes(3000);
      const trailer = await putUnsignedTrailer('victim', [data, data], crc32Base64(Buffer.concat([data, data])), { decodedLength: 3000 });
      expect(trailer.status).toBe(400);
      expectS3Error(trailer, 400, xmlCode(trailer.text)!);
      // Plain body: HTTP frames the bytes past Content-Length as a second, unparseable request on the
      // connection. The first request is judged on its 10 bytes (which do not match the signed hash);
      // whichever 400 the client hears first, nothing may be stored.
      const whole = Buffer.from('0123456789abcdefghij');
      const plain = await put(KEEP, whole, { payloadHash: sha256Hex(whole), contentLength: 10 });
      expect(plain.status).toBe(400);
      // either the first request's own error or the parser's InvalidRequest for the trailing bytes
      expect(['XAmzContentSHA256Mismatch', 'InvalidRequest']).toContain(xmlCode(plain.text));
      expectS3Error(plain, 400, xmlCode(plain.text)!);
    });
  });

  it('a PUT followed on its connection by bytes that are not HTTP does nothing after the client has its 400', async () => {
    await unchanged(async () => {
      // Node's parser meets the trailing bytes in the same read as the body: it answers InvalidRequest
      // and closes the connection while the PUT it has already handed over is still authenticating.
      // That PUT can never be answered; it must not go on to reserve quota and spool its body.
      const created: string[] = [];
      const watcher = watch(join(ferry.config.spoolDir, alice.id), (_event, name) => created.push(String(name)));
      try {
        const body = Buffer.from('0123456789');
        const response = await put('pipelined', Buffer.concat([body, Buffer.from('abcdefghij')]), { payloadHash: sha256Hex(body), contentLength: body.length });
        expectS3Error(response, 400, 'InvalidRequest');
        created.length = 0;
        // left to run, the PUT opened its spool file a few milliseconds after that answer
        expect(await eventually(async () => created.length > 0, 1_500, 25), created.join()).toBe(false);
      } finally {
        watcher.close();
      }
    });
  });

  it('a key longer than 1024 bytes is KeyTooLongError (400)', async () => {
    await unchanged(async () => {
      expectS3Error(await put('k'.repeat(1025), Buffer.from('x')), 400, 'KeyTooLongError');
      // 1024 bytes of UTF-8 is the limit, not 1024 characters
      expectS3Error(await put('é'.repeat(513), Buffer.from('x')), 400, 'KeyTooLongError');
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'GET', path: objectPath('backups', 'g'.repeat(1100)) }), 400, 'KeyTooLongError');
    });
  });

  it('invalid bucket names are InvalidBucketName (400)', async () => {
    await unchanged(async () => {
      for (const name of ['Bad_Name', 'ab', 'a'.repeat(64), '192.168.10.1', '-leading', 'trailing-', 'double..dot', 'xn--reserved', 'UPPER']) {
        expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: `/${name}` }), 400, 'InvalidBucketName');
      }
      const listed = await alice.s3.send(new ListBucketsCommand({}));
      expect(listed.Buckets?.map((bucket) => bucket.Name)).toEqual(['backups']);
    });
  });

  const deleteBody = (keys: string[]) => Buffer.from(`<Delete>${keys.map((key) => `<Object><Key>${key}</Key></Object>`).join('')}</Delete>`);

  it('malformed DeleteObjects XML is MalformedXML (400) and deletes nothing', async () => {
    await unchanged(async () => {
      for (const xml of [
        `<Delete><Object><Key>${KEEP}</Key></Object>`,
        '<Delete></Delete>',
        `<NotDelete><Object><Key>${KEEP}</Key></Object></NotDelete>`,
        `<Delete><Object><Key>${KEEP}</Key></Object>`.repeat(2),
        'not xml at all',
        `<Delete>${`<Object><Key>k</Key></Object>`.repeat(1001)}</Delete>`,
      ]) {
        const body = Buffer.from(xml);
        const response = await s3Request(ferry.s3Endpoint, alice, {
          method: 'POST',
          path: '/backups',
          query: { delete: '' },
          body,
          headers: { 'content-md5': md5Base64(body) },
        });
        expectS3Error(response, 400, 'MalformedXML');
      }
    });
  });

  it('DeleteObjects without Content-MD5 or a checksum is refused (400 InvalidRequest) and deletes nothing', async () => {
    await unchanged(async () => {
      const response = await s3Request(ferry.s3Endpoint, alice, { method: 'POST', path: '/backups', query: { delete: '' }, body: deleteBody([KEEP]) });
      expectS3Error(response, 400, 'InvalidRequest');
      expect(response.text).toMatch(/Content-MD5/);
      // and with a Content-MD5 that does not match the body
      const body = deleteBody([KEEP]);
      const wrong = await s3Request(ferry.s3Endpoint, alice, {
        method: 'POST',
        path: '/backups',
        query: { delete: '' },
        body,
        headers: { 'content-md5': md5Base64(deleteBody(['other'])) },
      });
      expectS3Error(wrong, 400, 'BadDigest');
    });
  });

  it('oversized request headers (20 KiB) are RequestHeaderSectionTooLarge (400)', async () => {
    await unchanged(async () => {
      const padding = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`x-padding-${i}`, 'p'.repeat(1000)]));
      expectS3Error(await put(KEEP, Buffer.from('big headers'), { headers: padding }), 400, 'RequestHeaderSectionTooLarge');
      expectS3Error(await put('victim', Buffer.from('big headers'), { headers: padding }), 400, 'RequestHeaderSectionTooLarge');
    });
  });

  it('headers past the HTTP parser limit (100 KiB) are RequestHeaderSectionTooLarge (400) too, and the server keeps running', async () => {
    await unchanged(async () => {
      const huge = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`x-padding-${i}`, 'p'.repeat(1000)]));
      const response = await put(KEEP, Buffer.from('huge headers'), { headers: huge });
      // the server survives whatever it answers
      expect((await s3Request(ferry.s3Endpoint, alice, { method: 'HEAD', path: objectPath('backups', KEEP) })).status).toBe(200);
      expectS3Error(response, 400, 'RequestHeaderSectionTooLarge');
    });
  });

  it('user metadata over 2 KiB is MetadataTooLarge (400)', async () => {
    await unchanged(async () => {
      const response = await put('victim', Buffer.from('meta'), { headers: { 'x-amz-meta-big': 'm'.repeat(1500), 'x-amz-meta-more': 'm'.repeat(600) } });
      expectS3Error(response, 400, 'MetadataTooLarge');
      expectS3Error(await put(KEEP, Buffer.from('meta'), { headers: { 'x-amz-meta-big': 'm'.repeat(2100) } }), 400, 'MetadataTooLarge');
    });
  });

  it('an unknown upload id is NoSuchUpload (404) for UploadPart, ListParts, Complete and Abort', async () => {
    await unchanged(async () => {
      const uploadId = 'bm90LWFuLXVwbG9hZC1pZA';
      const part = await s3Request(ferry.s3Endpoint, alice, {
        method: 'PUT',
        path: objectPath('backups', KEEP),
        query: { partNumber: '1', uploadId },
        body: Buffer.from('part'),
      });
      expectS3Error(part, 404, 'NoSuchUpload');
      const complete = Buffer.from('<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>');
      expectS3Error(
        await s3Request(ferry.s3Endpoint, alice, { method: 'POST', path: objectPath('backups', KEEP), query: { uploadId }, body: complete }),
        404,
        'NoSuchUpload',
      );
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'GET', path: objectPath('backups', KEEP), query: { uploadId } }), 404, 'NoSuchUpload');
      // a real-looking UUID too
      expectS3Error(
        await s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', 'victim'), query: { partNumber: '1', uploadId: '00000000-0000-4000-8000-000000000000' }, body: Buffer.from('p') }),
        404,
        'NoSuchUpload',
      );
      const abort = await s3Request(ferry.s3Endpoint, alice, { method: 'DELETE', path: objectPath('backups', KEEP), query: { uploadId } });
      expectS3Error(abort, 404, 'NoSuchUpload');
    });
  });

  it('malformed CompleteMultipartUpload XML is MalformedXML (400) and completes nothing', async () => {
    const created = await s3Request(ferry.s3Endpoint, alice, { method: 'POST', path: objectPath('backups', KEEP), query: { uploads: '' } });
    expect(created.status, created.text).toBe(200);
    const uploadId = /<UploadId>([^<]+)<\/UploadId>/.exec(created.text)![1];
    const part = await s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', KEEP), query: { partNumber: '1', uploadId }, body: Buffer.from('part one') });
    expect(part.status, part.text).toBe(200);
    const etag = part.headers.etag as string;
    await unchanged(async () => {
      for (const xml of [
        `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part>`,
        '<CompleteMultipartUpload></CompleteMultipartUpload>',
        `<Wrong><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></Wrong>`,
        'garbage',
        `<CompleteMultipartUpload><Part><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`,
      ]) {
        const response = await s3Request(ferry.s3Endpoint, alice, { method: 'POST', path: objectPath('backups', KEEP), query: { uploadId }, body: Buffer.from(xml) });
        expectS3Error(response, 400, 'MalformedXML');
      }
    });
    // the upload is still there and still completes
    const good = Buffer.from(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>${etag}</ETag></Part></CompleteMultipartUpload>`);
    const done = await s3Request(ferry.s3Endpoint, alice, { method: 'POST', path: objectPath('backups', 'mp-done'), query: { uploadId }, body: good });
    // a different key with this upload id is no upload at all
    expectS3Error(done, 404, 'NoSuchUpload');
    const completed = await s3Request(ferry.s3Endpoint, alice, { method: 'POST', path: objectPath('backups', KEEP), query: { uploadId }, body: good });
    expect(completed.status, completed.text).toBe(200);
    const got = await s3Request(ferry.s3Endpoint, alice, { method: 'GET', path: objectPath('backups', KEEP) });
    expect(got.text).toBe('part one');
    // restore the kept object for the tests after this one
    expect((await put(KEEP, keepBody)).status).toBe(200);
  });

  it('unsupported subresources are NotImplemented (501) and never act as another operation', async () => {
    await unchanged(async () => {
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'GET', path: '/backups', query: { acl: '' } }), 501, 'NotImplemented');
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'GET', path: objectPath('backups', KEEP), query: { acl: '' } }), 501, 'NotImplemented');
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: '/backups', query: { policy: '' }, body: Buffer.from('{}') }), 501, 'NotImplemented');
      // PutObjectTagging / PutObjectAcl must not be taken for a PutObject that overwrites the key
      const tagging = Buffer.from('<Tagging><TagSet/></Tagging>');
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', KEEP), query: { tagging: '' }, body: tagging }), 501, 'NotImplemented');
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'PUT', path: objectPath('backups', KEEP), query: { acl: '' }, body: tagging }), 501, 'NotImplemented');
      expectS3Error(await s3Request(ferry.s3Endpoint, alice, { method: 'DELETE', path: objectPath('backups', KEEP), query: { tagging: '' } }), 501, 'NotImplemented');
    });
  });

  it('a request with no authentication at all is AccessDenied (403)', async () => {
    await unchanged(async () => {
      const endpoint = ferry.s3Endpoint;
      const host = new URL(endpoint).host;
      expectS3Error(await rawHttp(endpoint, { method: 'GET', pathAndQuery: '/', headers: { host } }), 403, 'AccessDenied');
      const got = await rawHttp(endpoint, { method: 'GET', pathAndQuery: objectPath('backups', KEEP), headers: { host } });
      expectS3Error(got, 403, 'AccessDenied');
      expect(got.body.includes(keepBody.subarray(0, 16))).toBe(false);
      expectS3Error(
        await rawHttp(endpoint, { method: 'PUT', pathAndQuery: objectPath('backups', KEEP), headers: { host, 'content-length': '9' }, body: Buffer.from('anonymous') }),
        403,
        'AccessDenied',
      );
      expectS3Error(await rawHttp(endpoint, { method: 'PUT', pathAndQuery: '/anonymous-bucket', headers: { host } }), 403, 'AccessDenied');
      expectS3Error(await rawHttp(endpoint, { method: 'DELETE', pathAndQuery: objectPath('backups', KEEP), headers: { host } }), 403, 'AccessDenied');
    });
  });

  it('only GET /healthz is the health check: any other method or path on it is an S3 request', async () => {
    const endpoint = ferry.s3Endpoint;
    const host = new URL(endpoint).host;
    for (const pathAndQuery of ['/healthz', '/healthz/', '/healthz?probe=1']) {
      const health = await rawHttp(endpoint, { method: 'GET', pathAndQuery, headers: { host } });
      expect(health.status, pathAndQuery).toBe(200);
      expect(JSON.parse(health.body.toString())).toEqual({ status: 'ok' });
    }
    // a bucket named healthz is S3's: unsigned, these are refused as any S3 request would be
    expectS3Error(await rawHttp(endpoint, { method: 'PUT', pathAndQuery: '/healthz', headers: { host } }), 403, 'AccessDenied');
    expectS3Error(await rawHttp(endpoint, { method: 'GET', pathAndQuery: '/healthz/key', headers: { host } }), 403, 'AccessDenied');
    expect((await rawHttp(endpoint, { method: 'HEAD', pathAndQuery: '/healthz', headers: { host } })).status).toBe(403);
  });

  it('after all of that the gateway still serves a normal PutObject and GetObject', async () => {
    const body = randomBytes(2 * 1024 * 1024 + 3);
    const put = await alice.s3.send(new PutObjectCommand({ Bucket: 'backups', Key: 'after/all.bin', Body: body }));
    expect(put.ETag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    const got = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: 'after/all.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
    const kept = await alice.s3.send(new GetObjectCommand({ Bucket: 'backups', Key: KEEP }));
    expect(Buffer.from(await kept.Body!.transformToByteArray()).equals(keepBody)).toBe(true);
    // every spool file belongs to an object, a part or a pending removal: no refused body left a file behind
    expect(await eventually(async () => (await orphanSpoolFiles()).length === 0, 5_000, 50)).toBe(true);
  });
});

/**
 * Sends a request whose body stops short of its Content-Length and half-closes the socket (FIN),
 * as a client that gave up would; returns the raw response text ('' when the server just closed).
 */
function halfClosedRequest(endpoint: string, method: string, path: string, headers: Record<string, string>, body: Buffer): Promise<string> {
  const url = new URL(endpoint);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname, port: Number(url.port), allowHalfOpen: true });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    }, 10_000);
    socket.on('connect', () => {
      const head = [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), '', ''].join('\r\n');
      socket.write(head);
      socket.write(body);
      socket.end();
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}
