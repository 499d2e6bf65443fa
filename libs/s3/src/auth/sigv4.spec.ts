import { describe, expect, it } from 'vitest';
import {
  DeleteObjectsCommand,
  GetObjectAclCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { FerryErrorCode } from '@ferry/common';
import { ACCESS_KEY_ID, capturingClient, onTheWire, s3Signer, SECRET } from '../testing/aws-sdk.fixture.js';
import { parseAuthorization, verifySignature, type SigV4Request } from './sigv4.js';

/** The credentials and time of the examples in AWS's "Signature Calculations for the Authorization Header". */
const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const AWS_TIME = new Date('2013-05-24T00:00:00Z');
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SCOPE = `${AWS_KEY}/20130524/us-east-1/s3/aws4_request`;

function awsExample(rawUrl: string, signedHeaders: string, signature: string, headers: Record<string, string>, method = 'GET') {
  return {
    method,
    rawUrl,
    headers: {
      ...headers,
      authorization: `AWS4-HMAC-SHA256 Credential=${SCOPE},SignedHeaders=${signedHeaders},Signature=${signature}`,
    },
  };
}

const verify = (req: SigV4Request, secret: string, now: Date) => verifySignature(parseAuthorization(req, now), secret, req);
const expectCode = (fn: () => unknown, code: FerryErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

describe('AWS documentation examples', () => {
  const host = 'examplebucket.s3.amazonaws.com';

  it('GET object with a Range header', () => {
    const req = awsExample(
      '/test.txt',
      'host;range;x-amz-content-sha256;x-amz-date',
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      { host, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
    );
    const context = verify(req, AWS_SECRET, AWS_TIME);
    expect(context.scope).toBe('20130524/us-east-1/s3/aws4_request');
    expect(context.seedSignature).toBe('f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('PUT object whose key needs encoding ($), with a Date header signed too', () => {
    const req = awsExample(
      '/test%24file.text',
      'date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class',
      '98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd',
      {
        host,
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
      },
      'PUT',
    );
    expect(() => verify(req, AWS_SECRET, AWS_TIME)).not.toThrow();
    // A client that leaves '$' unencoded signs the same canonical URI.
    expect(() => verify({ ...req, rawUrl: '/test$file.text' }, AWS_SECRET, AWS_TIME)).not.toThrow();
  });

  it('GET bucket lifecycle (a sub-resource without a value)', () => {
    const req = awsExample(
      '/?lifecycle',
      'host;x-amz-content-sha256;x-amz-date',
      'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543',
      { host, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
    );
    expect(() => verify(req, AWS_SECRET, AWS_TIME)).not.toThrow();
  });

  it('GET bucket (list objects) with query parameters out of order', () => {
    const req = awsExample(
      '/?prefix=J&max-keys=2',
      'host;x-amz-content-sha256;x-amz-date',
      '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
      { host, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
    );
    expect(() => verify(req, AWS_SECRET, AWS_TIME)).not.toThrow();
  });

  it('presigned GET object URL', () => {
    const req = {
      method: 'GET',
      rawUrl:
        '/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
        '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
        '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
      headers: { host },
    };
    const parsed = parseAuthorization(req, new Date('2013-05-24T12:00:00Z'));
    expect(parsed).toMatchObject({ presigned: true, payloadHash: 'UNSIGNED-PAYLOAD', accessKeyId: AWS_KEY });
    expect(parsed.expiresAt?.toISOString()).toBe('2013-05-25T00:00:00.000Z');
    expect(() => verifySignature(parsed, AWS_SECRET, req)).not.toThrow();
    expectCode(() => parseAuthorization(req, new Date('2013-05-25T00:00:01Z')), FerryErrorCode.RequestExpired);
  });

  it('seed signature of the chunked upload example', () => {
    const req = awsExample(
      '/examplebucket/chunkObject.txt',
      'content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class',
      '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9',
      {
        host: 's3.amazonaws.com',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'content-encoding': 'aws-chunked',
        'x-amz-decoded-content-length': '66560',
        'content-length': '66824',
      },
      'PUT',
    );
    expect(verify(req, AWS_SECRET, AWS_TIME).seedSignature).toBe('4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9');
  });

  it('rejects each example once anything signed is changed', () => {
    const base = awsExample(
      '/test.txt',
      'host;range;x-amz-content-sha256;x-amz-date',
      'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
      { host, range: 'bytes=0-9', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' },
    );
    const tampered: SigV4Request[] = [
      { ...base, headers: { ...base.headers, range: 'bytes=0-10' } },
      { ...base, headers: { ...base.headers, host: 'otherbucket.s3.amazonaws.com' } },
      { ...base, rawUrl: '/test.txt2' },
      { ...base, rawUrl: '/test.txt?versionId=1' },
      { ...base, method: 'DELETE' },
    ];
    for (const req of tampered) expectCode(() => verify(req, AWS_SECRET, AWS_TIME), FerryErrorCode.SignatureDoesNotMatch);
    expectCode(() => verify(base, AWS_SECRET.replace('K7', 'K8'), AWS_TIME), FerryErrorCode.SignatureDoesNotMatch);
  });
});

describe('requests signed by the AWS SDK for JavaScript', () => {
  const keys = [
    'plain.txt',
    'my key with spaces.txt',
    'ünïcödé/日本語/emoji-😀.bin',
    'a+b=c&d;e,f.txt',
    "odd!'()*~key",
    '100% sure?#hash',
    'folder//double/./dot/../x',
    '  leading and trailing  ',
  ];

  it.each(keys)('S3Client PutObject of %j verifies', async (key) => {
    const { client, captured } = capturingClient();
    await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: key, Body: 'hello', Metadata: { note: '  two   spaces ' } }));
    const { request } = captured[0]!;
    expect(request.headers['x-amz-checksum-crc32']).toBeDefined();
    const context = verify(request, SECRET, new Date());
    expect(context.seedSignature).toMatch(/^[0-9a-f]{64}$/);
  });

  it.each(keys)('S3Client GetObject of %j verifies', async (key) => {
    const { client, captured } = capturingClient();
    await client.send(new GetObjectCommand({ Bucket: 'bucket', Key: key, Range: 'bytes=0-9', VersionId: 'v 1/2+3' })).catch(() => undefined);
    expect(() => verify(captured[0]!.request, SECRET, new Date())).not.toThrow();
  });

  it('ListObjectsV2 with empty and reserved-character query values verifies', async () => {
    const { client, captured } = capturingClient();
    await client
      .send(new ListObjectsV2Command({ Bucket: 'bucket', Prefix: '', Delimiter: '/', StartAfter: 'a b/ü+&=', ContinuationToken: 'tok/en==' }))
      .catch(() => undefined);
    const { request } = captured[0]!;
    expect(request.rawUrl).toContain('prefix=&');
    expect(() => verify(request, SECRET, new Date())).not.toThrow();
  });

  it('GetObjectAcl (?acl) and DeleteObjects (?delete with a body) verify', async () => {
    const { client, captured } = capturingClient();
    await client.send(new GetObjectAclCommand({ Bucket: 'bucket', Key: 'k' })).catch(() => undefined);
    await client.send(new DeleteObjectsCommand({ Bucket: 'bucket', Delete: { Objects: [{ Key: 'a' }, { Key: 'b c' }] } })).catch(() => undefined);
    expect(captured).toHaveLength(2);
    for (const { request } of captured) expect(() => verify(request, SECRET, new Date())).not.toThrow();
  });

  it('a raw "?acl" without "=" verifies against a signature over acl=', async () => {
    const signed = await s3Signer().sign(
      { method: 'GET', protocol: 'http:', hostname: 'ferry.test', path: '/bucket/k', query: { acl: '' }, headers: { host: 'ferry.test', 'x-amz-content-sha256': EMPTY } },
      { signingDate: new Date() },
    );
    const req = onTheWire(signed);
    expect(() => verify({ ...req, rawUrl: '/bucket/k?acl' }, SECRET, new Date())).not.toThrow();
  });

  it('rejects an SDK request whose object, query or metadata was changed in transit', async () => {
    const { client, captured } = capturingClient();
    await client.send(new PutObjectCommand({ Bucket: 'bucket', Key: 'a b', Body: 'hello', Metadata: { owner: 'alice' } }));
    const req = captured[0]!.request;
    const changed: SigV4Request[] = [
      { ...req, rawUrl: req.rawUrl.replace('a%20b', 'a%20c') },
      { ...req, rawUrl: req.rawUrl.replace('/bucket/', '/other/') },
      { ...req, rawUrl: `${req.rawUrl}?x-id=GetObject` },
      { ...req, headers: { ...req.headers, 'x-amz-meta-owner': 'mallory' } },
      { ...req, headers: { ...req.headers, 'x-amz-checksum-crc32': 'AAAAAA==' } },
      { ...req, headers: { ...req.headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
    ];
    for (const tampered of changed) expectCode(() => verify(tampered, SECRET, new Date()), FerryErrorCode.SignatureDoesNotMatch);
    expectCode(
      () => verify({ ...req, headers: { ...req.headers, 'x-amz-acl': 'public-read' } }, SECRET, new Date()),
      FerryErrorCode.AccessDenied,
    );
  });
});

describe('presigned URLs from the AWS SDK signer', () => {
  const signingDate = new Date('2024-02-29T12:00:00Z');

  async function presign(query: Record<string, string>, expiresIn = 900, path = '/bucket/my%20key%2B%C3%BC.txt') {
    // As @aws-sdk/s3-request-presigner does: UNSIGNED-PAYLOAD, hoisted into the query.
    const presigned = await s3Signer().presign(
      { method: 'GET', protocol: 'http:', hostname: 'ferry.test', port: 9000, path, query, headers: { host: 'ferry.test:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { signingDate, expiresIn },
    );
    return onTheWire(presigned);
  }

  it('verifies, with response overrides, empty values and the payload hash read from the query', async () => {
    const req = await presign({ 'response-content-disposition': 'attachment; filename="a b.txt"', versionId: '', 'x-id': 'GetObject' });
    expect(req.rawUrl).toContain('versionId=&');
    const parsed = parseAuthorization(req, new Date(signingDate.getTime() + 60_000));
    expect(parsed).toMatchObject({ presigned: true, payloadHash: 'UNSIGNED-PAYLOAD', accessKeyId: ACCESS_KEY_ID, region: 'us-east-1' });
    expect(() => verifySignature(parsed, SECRET, req)).not.toThrow();
  });

  it('expires, refuses early use, and refuses tampering', async () => {
    const req = await presign({}, 3600);
    expectCode(() => parseAuthorization(req, new Date(signingDate.getTime() + 3601_000)), FerryErrorCode.RequestExpired);
    expectCode(() => parseAuthorization(req, new Date(signingDate.getTime() - 3600_000)), FerryErrorCode.AccessDenied);
    const now = new Date(signingDate.getTime() + 1000);
    expectCode(() => verify({ ...req, rawUrl: req.rawUrl.replace('X-Amz-Expires=3600', 'X-Amz-Expires=7200') }, SECRET, now), FerryErrorCode.SignatureDoesNotMatch);
    expectCode(() => verify({ ...req, rawUrl: req.rawUrl.replace('/bucket/', '/bucket2/') }, SECRET, now), FerryErrorCode.SignatureDoesNotMatch);
    expectCode(() => verify({ ...req, method: 'PUT' }, SECRET, now), FerryErrorCode.SignatureDoesNotMatch);
    expectCode(() => verify({ ...req, rawUrl: req.rawUrl.replace('X-Amz-Expires=3600', 'X-Amz-Expires=604801') }, SECRET, now), FerryErrorCode.AuthorizationMalformed);
  });
});

describe('parseAuthorization', () => {
  const now = new Date('2024-05-01T10:00:00Z');
  const amzDate = '20240501T100000Z';
  const headers = (extra: Record<string, string> = {}) => ({
    host: 'ferry.test',
    'x-amz-date': amzDate,
    'x-amz-content-sha256': EMPTY,
    authorization: `AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'a'.repeat(64)}`,
    ...extra,
  });
  const parse = (h: Record<string, string>, rawUrl = '/b/k', at = now) => parseAuthorization({ method: 'GET', rawUrl, headers: h }, at);

  it('returns the parts of a header credential', () => {
    expect(parse(headers())).toEqual({
      accessKeyId: 'AKID',
      date: '20240501',
      region: 'eu-west-1',
      service: 's3',
      amzDate,
      signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'],
      signature: 'a'.repeat(64),
      payloadHash: EMPTY,
      presigned: false,
      scope: '20240501/eu-west-1/s3/aws4_request',
    });
  });

  it('falls back to the Date header when x-amz-date is absent', () => {
    const { 'x-amz-date': _omitted, ...rest } = headers({ date: 'Wed, 01 May 2024 10:00:00 GMT' });
    expect(parse(rest).amzDate).toBe(amzDate);
  });

  it('answers AccessDenied to an unsigned request and InvalidRequest to other schemes', () => {
    expectCode(() => parse({ host: 'ferry.test' }), FerryErrorCode.AccessDenied);
    expectCode(() => parse(headers({ authorization: 'AWS AKID:c2lnbmF0dXJl' })), FerryErrorCode.InvalidRequest);
    expectCode(() => parse({ host: 'ferry.test' }, '/b/k?AWSAccessKeyId=AKID&Expires=1&Signature=x'), FerryErrorCode.InvalidRequest);
  });

  it('refuses both mechanisms at once', () => {
    expectCode(() => parse(headers(), '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256'), FerryErrorCode.InvalidArgument);
  });

  it.each([
    ['missing Signature', 'AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws4_request, SignedHeaders=host'],
    ['repeated component', `AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws4_request, Credential=x, SignedHeaders=host, Signature=${'a'.repeat(64)}`],
    ['short credential', `AWS4-HMAC-SHA256 Credential=AKID/20240501/s3/aws4_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`],
    ['wrong service', `AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/iam/aws4_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`],
    ['wrong terminator', `AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws5_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`],
    ['credential date not the request day', `AWS4-HMAC-SHA256 Credential=AKID/20240430/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'a'.repeat(64)}`],
    ['host not signed', `AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws4_request, SignedHeaders=x-amz-content-sha256;x-amz-date, Signature=${'a'.repeat(64)}`],
    ['uppercase signed header', `AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws4_request, SignedHeaders=Host;x-amz-content-sha256;x-amz-date, Signature=${'a'.repeat(64)}`],
    ['short signature', 'AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=abc'],
  ])('AuthorizationMalformed: %s', (_name, authorization) => {
    expectCode(() => parse(headers({ authorization })), FerryErrorCode.AuthorizationMalformed);
  });

  it('AuthorizationMalformed for an impossible x-amz-date', () => {
    expectCode(() => parse(headers({ 'x-amz-date': '20240231T100000Z' })), FerryErrorCode.AuthorizationMalformed);
    expectCode(() => parse(headers({ 'x-amz-date': '2024-05-01T10:00:00Z' })), FerryErrorCode.AuthorizationMalformed);
  });

  it('allows 15 minutes of clock skew and no more', () => {
    expect(() => parse(headers(), '/b/k', new Date(now.getTime() + 15 * 60_000))).not.toThrow();
    expect(() => parse(headers(), '/b/k', new Date(now.getTime() - 15 * 60_000))).not.toThrow();
    expectCode(() => parse(headers(), '/b/k', new Date(now.getTime() + 15 * 60_000 + 1000)), FerryErrorCode.RequestTimeTooSkewed);
    expectCode(() => parse(headers(), '/b/k', new Date(now.getTime() - 16 * 60_000)), FerryErrorCode.RequestTimeTooSkewed);
  });

  it('requires a known x-amz-content-sha256 on header-signed requests', () => {
    const { 'x-amz-content-sha256': _omitted, ...rest } = headers();
    expectCode(() => parse(rest), FerryErrorCode.InvalidRequest);
    expectCode(() => parse(headers({ 'x-amz-content-sha256': 'NOT-A-HASH' })), FerryErrorCode.InvalidArgument);
    expectCode(() => parse(headers({ 'x-amz-content-sha256': 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD' })), FerryErrorCode.NotImplemented);
    expect(parse(headers({ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).payloadHash).toBe('STREAMING-UNSIGNED-PAYLOAD-TRAILER');
  });

  it('refuses x-amz-* headers that were not signed', () => {
    expectCode(() => parse(headers({ 'x-amz-meta-x': '1' })), FerryErrorCode.AccessDenied);
  });

  it('AuthorizationMalformed for presigned URLs missing or repeating a parameter, or with bad expiry', () => {
    const q = (params: string) => `/b/k?${params}`;
    const good = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20240501%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date=20240501T100000Z&X-Amz-SignedHeaders=host&X-Amz-Signature=' + 'b'.repeat(64);
    const host = { host: 'ferry.test' };
    expect(parse(host, q(`${good}&X-Amz-Expires=60`)).expiresAt?.toISOString()).toBe('2024-05-01T10:01:00.000Z');
    expectCode(() => parse(host, q(good)), FerryErrorCode.AuthorizationMalformed);
    expectCode(() => parse(host, q(`${good}&X-Amz-Expires=60&X-Amz-Expires=60`)), FerryErrorCode.AuthorizationMalformed);
    expectCode(() => parse(host, q(`${good}&X-Amz-Expires=0`)), FerryErrorCode.AuthorizationMalformed);
    expectCode(() => parse(host, q(`${good}&X-Amz-Expires=-5`)), FerryErrorCode.AuthorizationMalformed);
    expectCode(() => parse(host, q(`${good}&X-Amz-Expires=604801`)), FerryErrorCode.AuthorizationMalformed);
    expectCode(() => parse(host, q(`${good.replace('AWS4-HMAC-SHA256', 'AWS4-ECDSA-P256-SHA256')}&X-Amz-Expires=60`)), FerryErrorCode.InvalidRequest);
    expect(parse(host, q(`${good}&X-Amz-Expires=604800`)).presigned).toBe(true);
  });
});
