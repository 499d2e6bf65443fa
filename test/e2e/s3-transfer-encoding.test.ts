import { createHash, randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateBucketCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { FerryUnderTest, type TenantSession } from '../support/ferry.js';
import { objectPath, rawHttp, sha256Hex, signRequest, unsignedTrailerBody } from '../support/faults.js';

/** Bodies sent with `Transfer-Encoding: chunked` and no Content-Length, as streaming clients do. */
describe('Transfer-Encoding: chunked uploads', () => {
  let ferry: FerryUnderTest;
  let t: TenantSession;

  beforeAll(async () => {
    ferry = await FerryUnderTest.start({ worker: false });
    t = await ferry.tenant('streamer');
    await t.s3.send(new CreateBucketCommand({ Bucket: 'streams' }));
  });

  afterAll(async () => {
    await ferry?.stop();
  });

  const send = async (key: string, body: Buffer, payloadHash: string, headers: Record<string, string> = {}) => {
    const signed = await signRequest(ferry.s3Endpoint, t, {
      method: 'PUT',
      path: objectPath('streams', key),
      body,
      payloadHash,
      contentLength: null,
      headers,
    });
    return rawHttp(ferry.s3Endpoint, { ...signed, headers: { ...signed.headers, 'transfer-encoding': 'chunked' } });
  };

  const read = async (key: string) => {
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'streams', Key: key }));
    return Buffer.from(await got.Body!.transformToByteArray());
  };

  it('accepts an unsigned payload of unknown length', async () => {
    const body = randomBytes(300_000);
    const response = await send('unsigned.bin', body, 'UNSIGNED-PAYLOAD');
    expect(response.status, response.text).toBe(200);
    expect(response.headers.etag).toBe(`"${createHash('md5').update(body).digest('hex')}"`);
    expect((await read('unsigned.bin')).equals(body)).toBe(true);
  });

  it('accepts a signed payload of unknown length and refuses one that does not match its hash', async () => {
    const body = randomBytes(70_000);
    expect((await send('signed.bin', body, sha256Hex(body))).status).toBe(200);
    expect((await read('signed.bin')).equals(body)).toBe(true);
    const wrong = await send('wrong.bin', body, sha256Hex(Buffer.from('something else')));
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('<Code>XAmzContentSHA256Mismatch</Code>');
  });

  it('accepts aws-chunked with a trailing checksum and no decoded length', async () => {
    const chunks = [randomBytes(65_536), randomBytes(1000)];
    const whole = Buffer.concat(chunks);
    const checksum = Buffer.alloc(4);
    checksum.writeUInt32BE(crc32(whole));
    const framed = unsignedTrailerBody(chunks, { 'x-amz-checksum-crc32': checksum.toString('base64') });
    const response = await send('trailer.bin', framed, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', {
      'content-encoding': 'aws-chunked',
      'x-amz-trailer': 'x-amz-checksum-crc32',
    });
    expect(response.status, response.text).toBe(200);
    expect(response.headers['x-amz-checksum-crc32']).toBe(checksum.toString('base64'));
    expect((await read('trailer.bin')).equals(whole)).toBe(true);
  });
});
