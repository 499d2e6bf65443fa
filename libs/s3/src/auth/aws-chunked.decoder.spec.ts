import { createHash, randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { PutObjectCommand, type ChecksumAlgorithm as SdkChecksumAlgorithm } from '@aws-sdk/client-s3';
import { FerryErrorCode } from '@ferry/common';
import { digestOf, encodeChecksum, parseChecksumAlgorithm } from '../integrity/checksums.js';
import { capturingClient } from '../testing/aws-sdk.fixture.js';
import { AwsChunkedDecoder, type AwsChunkedDecoderOptions } from './aws-chunked.decoder.js';
import { chunkSignature, trailerSignature } from './chunk-signing.js';
import {
  STREAMING_SIGNED_PAYLOAD,
  STREAMING_SIGNED_PAYLOAD_TRAILER,
  STREAMING_UNSIGNED_PAYLOAD_TRAILER,
} from './payload-hash.js';
import { deriveSigningKey } from './signing-key.js';
import type { SigningContext } from './sigv4.js';

/** The AWS documentation's chunked-upload examples: 65536 'a' bytes, then 1024, then the empty chunk. */
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const awsContext = (seedSignature: string): SigningContext => ({
  signingKey: deriveSigningKey(AWS_SECRET, '20130524', 'us-east-1', 's3'),
  scope: '20130524/us-east-1/s3/aws4_request',
  amzDate: '20130524T000000Z',
  seedSignature,
});
const CHUNK_1 = Buffer.alloc(65536, 'a');
const CHUNK_2 = Buffer.alloc(1024, 'a');
const PAYLOAD = Buffer.concat([CHUNK_1, CHUNK_2]);

const DOC_SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const DOC_BODY = Buffer.concat([
  Buffer.from('10000;chunk-signature=ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648\r\n'),
  CHUNK_1,
  Buffer.from('\r\n400;chunk-signature=0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497\r\n'),
  CHUNK_2,
  Buffer.from('\r\n0;chunk-signature=b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9\r\n\r\n'),
]);

// The trailing-headers example (sigv4-streaming-trailers): same data, a CRC32C trailer.
const TRAILER_SEED = '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e';
const trailerDocBody = (tail: string) =>
  Buffer.concat([
    Buffer.from('10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n'),
    CHUNK_1,
    Buffer.from('\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n'),
    CHUNK_2,
    Buffer.from('\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n'),
    Buffer.from(tail),
  ]);
const TRAILER_LINES =
  'x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n';

/** Splits `body` into pieces of `size` bytes, or of random sizes from 1 to 4096 when size is 'random'. */
function pieces(body: Buffer, size: number | 'random'): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; ) {
    const step = size === 'random' ? 1 + Math.floor(Math.random() * 4096) : size;
    out.push(body.subarray(i, i + step));
    i += step;
  }
  return out;
}

async function decode(options: AwsChunkedDecoderOptions, body: Buffer, split: number | 'random' = body.length || 1) {
  const decoder = new AwsChunkedDecoder(options);
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out.push(chunk);
      done();
    },
  });
  await pipeline(Readable.from(pieces(body, split)), decoder, sink);
  return { data: Buffer.concat(out), trailers: decoder.trailers, decodedBytes: decoder.decodedBytes };
}

const rejects = (promise: Promise<unknown>, code: FerryErrorCode) => expect(promise).rejects.toMatchObject({ code });

/** Builds a signed aws-chunked body the way an SDK would (used for tampering cases). */
function encodeSigned(context: SigningContext, chunks: Buffer[], trailers?: Map<string, string>): Buffer {
  const parts: Buffer[] = [];
  let previous = context.seedSignature;
  for (const chunk of [...chunks, Buffer.alloc(0)]) {
    previous = chunkSignature(context, previous, createHash('sha256').update(chunk).digest('hex'));
    parts.push(Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`));
    if (chunk.length > 0) parts.push(chunk, Buffer.from('\r\n'));
  }
  if (!trailers) return Buffer.concat([...parts, Buffer.from('\r\n')]);
  for (const [name, value] of trailers) parts.push(Buffer.from(`${name}:${value}\r\n`));
  parts.push(Buffer.from(`x-amz-trailer-signature:${trailerSignature(context, previous, trailers)}\r\n\r\n`));
  return Buffer.concat(parts);
}

function encodeUnsigned(chunks: Buffer[], trailerLines: string): Buffer {
  const parts = chunks.flatMap((chunk) => [Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  return Buffer.concat([...parts, Buffer.from(`0\r\n${trailerLines}\r\n`)]);
}

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD, AWS documentation example', () => {
  const options = { mode: STREAMING_SIGNED_PAYLOAD, signing: awsContext(DOC_SEED), decodedContentLength: 66560 } as const;

  it.each([['whole', DOC_BODY.length], ['1 byte at a time', 1], ['7 bytes at a time', 7], ['random pieces', 'random']] as const)(
    'decodes and verifies, fed %s',
    async (_name, split) => {
      const { data, decodedBytes } = await decode(options, DOC_BODY, split);
      expect(data.equals(PAYLOAD)).toBe(true);
      expect(decodedBytes).toBe(66560);
    },
  );

  it('rejects a changed data byte with SignatureDoesNotMatch', async () => {
    for (const offset of [100, 65_000, 66_000]) {
      const body = Buffer.from(DOC_BODY);
      expect(body[offset]).toBe('a'.charCodeAt(0));
      body[offset] = 'b'.charCodeAt(0);
      await rejects(decode(options, body), FerryErrorCode.SignatureDoesNotMatch);
    }
  });

  it('rejects a changed chunk signature and a dropped chunk', async () => {
    const body = Buffer.from(DOC_BODY);
    body.write('b', body.indexOf('0055627c'));
    await rejects(decode(options, body), FerryErrorCode.SignatureDoesNotMatch);
    const start = DOC_BODY.indexOf('400;chunk-signature');
    const end = DOC_BODY.indexOf('0;chunk-signature=b6c6');
    const dropped = Buffer.concat([DOC_BODY.subarray(0, start), DOC_BODY.subarray(end)]);
    await rejects(decode({ ...options, decodedContentLength: undefined }, dropped), FerryErrorCode.SignatureDoesNotMatch);
  });

  it('rejects the right body under another seed signature', async () => {
    await rejects(decode({ ...options, signing: awsContext('0'.repeat(64)) }, DOC_BODY), FerryErrorCode.SignatureDoesNotMatch);
  });

  it('IncompleteBody when the body stops early, at any point', async () => {
    for (const cut of [0, 10, 90, 5000, DOC_BODY.length - 3, DOC_BODY.length - 2, DOC_BODY.length - 1]) {
      await rejects(decode(options, DOC_BODY.subarray(0, cut), 1000), FerryErrorCode.IncompleteBody);
    }
  });

  it('enforces x-amz-decoded-content-length: IncompleteBody if short, BodyTooLong if long', async () => {
    await rejects(decode({ ...options, decodedContentLength: 66561 }, DOC_BODY), FerryErrorCode.IncompleteBody);
    await rejects(decode({ ...options, decodedContentLength: 66559 }, DOC_BODY), FerryErrorCode.BodyTooLong);
    await rejects(decode({ ...options, decodedContentLength: 1000 }, DOC_BODY), FerryErrorCode.BodyTooLong);
  });

  it('rejects data after the final chunk and trailers in a mode without them', async () => {
    await rejects(decode(options, Buffer.concat([DOC_BODY, Buffer.from('x')])), FerryErrorCode.InvalidRequest);
    const withTrailer = Buffer.concat([DOC_BODY.subarray(0, DOC_BODY.length - 2), Buffer.from('x-amz-meta-a:1\r\n\r\n')]);
    await rejects(decode(options, withTrailer), FerryErrorCode.InvalidRequest);
  });
});

describe('STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER', () => {
  const options = { mode: STREAMING_SIGNED_PAYLOAD_TRAILER, signing: awsContext(TRAILER_SEED), decodedContentLength: 66560 } as const;

  it.each([
    ['as SDKs send it', `${TRAILER_LINES}\r\n`],
    ['with a blank line before the trailers, as the AWS documentation shows it', `\r\n${TRAILER_LINES}\r\n`],
    ['without the final blank line', TRAILER_LINES],
    ['without any final CRLF', TRAILER_LINES.slice(0, -2)],
  ])('verifies the AWS documentation example %s, fed 1 byte at a time', async (_name, tail) => {
    const { data, trailers } = await decode(options, trailerDocBody(tail), 1);
    expect(data.equals(PAYLOAD)).toBe(true);
    expect(trailers).toEqual(new Map([['x-amz-checksum-crc32c', 'sOO8/Q==']]));
    // The example's trailer really is the CRC32C of the data.
    expect(encodeChecksum(digestOf('CRC32C', data))).toBe('sOO8/Q==');
  });

  it('rejects a changed trailer value, a missing trailer signature and lines after it', async () => {
    await rejects(decode(options, trailerDocBody(`${TRAILER_LINES.replace('sOO8', 'sOO9')}\r\n`)), FerryErrorCode.SignatureDoesNotMatch);
    await rejects(decode(options, trailerDocBody('x-amz-checksum-crc32c:sOO8/Q==\r\n\r\n')), FerryErrorCode.SignatureDoesNotMatch);
    await rejects(decode(options, trailerDocBody('x-amz-checksum-crc32c:sOO8/Q==\r\n')), FerryErrorCode.IncompleteBody);
    await rejects(decode(options, trailerDocBody(`${TRAILER_LINES}x-amz-meta-late:1\r\n\r\n`)), FerryErrorCode.InvalidRequest);
  });

  it('round-trips bodies signed with a fresh context, with several trailers', async () => {
    const context = { ...awsContext('1'.repeat(64)) };
    const chunks = [randomBytes(8192), randomBytes(100), randomBytes(1)];
    const trailers = new Map([
      ['x-amz-checksum-sha256', encodeChecksum(digestOf('SHA256', Buffer.concat(chunks)))],
      ['x-amz-meta-note', 'hello world'],
    ]);
    const body = encodeSigned(context, chunks, trailers);
    const result = await decode({ mode: STREAMING_SIGNED_PAYLOAD_TRAILER, signing: context }, body, 'random');
    expect(result.data.equals(Buffer.concat(chunks))).toBe(true);
    expect(result.trailers).toEqual(trailers);

    const wrongChecksum = new Map(trailers).set('x-amz-checksum-sha256', encodeChecksum(digestOf('SHA256', Buffer.from('x'))));
    const forged = encodeSigned(context, chunks, trailers);
    const swapped = Buffer.from(forged.toString('latin1').replace(trailers.get('x-amz-checksum-sha256')!, wrongChecksum.get('x-amz-checksum-sha256')!), 'latin1');
    await rejects(decode({ mode: STREAMING_SIGNED_PAYLOAD_TRAILER, signing: context }, swapped), FerryErrorCode.SignatureDoesNotMatch);
  });
});

describe('STREAMING-UNSIGNED-PAYLOAD-TRAILER', () => {
  const options = { mode: STREAMING_UNSIGNED_PAYLOAD_TRAILER } as const;

  it('decodes split one byte at a time and exposes the trailers', async () => {
    const body = encodeUnsigned([Buffer.from('hello '), Buffer.from('world')], 'x-amz-checksum-crc32:DUoRhQ==\r\n');
    const { data, trailers } = await decode({ ...options, decodedContentLength: 11 }, body, 1);
    expect(data.toString()).toBe('hello world');
    expect(trailers.get('x-amz-checksum-crc32')).toBe('DUoRhQ==');
    expect(encodeChecksum(digestOf('CRC32', data))).toBe('DUoRhQ==');
  });

  it('accepts an empty body without trailers', async () => {
    const { data, trailers } = await decode(options, Buffer.from('0\r\n\r\n'));
    expect(data.length).toBe(0);
    expect(trailers.size).toBe(0);
  });

  it.each(['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const)(
    'decodes what S3Client PutObject sends for a stream with ChecksumAlgorithm %s',
    async (algorithm) => {
      const payload = randomBytes(200_000);
      const { client, captured } = capturingClient();
      await client.send(
        new PutObjectCommand({
          Bucket: 'bucket',
          Key: 'streamed',
          Body: Readable.from(pieces(payload, 65536)),
          ContentLength: payload.length,
          ChecksumAlgorithm: algorithm as SdkChecksumAlgorithm,
        }),
      );
      const { request, body } = captured[0]!;
      expect(request.headers['x-amz-content-sha256']).toBe(STREAMING_UNSIGNED_PAYLOAD_TRAILER);
      expect(request.headers['content-encoding']).toContain('aws-chunked');
      const trailerName = request.headers['x-amz-trailer']!;
      const { data, trailers } = await decode(
        { ...options, decodedContentLength: Number(request.headers['x-amz-decoded-content-length']) },
        body,
        'random',
      );
      expect(data.equals(payload)).toBe(true);
      expect(trailers.get(trailerName)).toBe(encodeChecksum(digestOf(parseChecksumAlgorithm(algorithm), payload)));
    },
  );

  it('rejects a trailer signature, a chunk signature and a repeated trailer', async () => {
    const signedTrailer = encodeUnsigned([Buffer.from('abc')], `x-amz-trailer-signature:${'a'.repeat(64)}\r\n`);
    await rejects(decode(options, signedTrailer), FerryErrorCode.InvalidRequest);
    await rejects(decode(options, Buffer.from(`3;chunk-signature=${'a'.repeat(64)}\r\nabc\r\n0\r\n\r\n`)), FerryErrorCode.InvalidRequest);
    await rejects(decode(options, encodeUnsigned([], 'x-amz-meta-a:1\r\nX-Amz-Meta-A:2\r\n')), FerryErrorCode.InvalidRequest);
  });
});

describe('framing errors and limits', () => {
  const unsigned = { mode: STREAMING_UNSIGNED_PAYLOAD_TRAILER } as const;
  const signed = { mode: STREAMING_SIGNED_PAYLOAD, signing: awsContext(DOC_SEED) } as const;

  it.each([
    ['a size that is not hex', 'zz\r\nabc\r\n0\r\n\r\n'],
    ['a size with a sign', '-3\r\nabc\r\n0\r\n\r\n'],
    ['a size line without CR', '3\nabc\r\n0\r\n\r\n'],
    ['data longer than its size', '3\r\nabcd\r\n0\r\n\r\n'],
    ['data not followed by CRLF', '3\r\nabc\n0\r\n\r\n'],
    ['a size above 2^53', 'fffffffffffffffff\r\n'],
    ['a trailer without a colon', '0\r\nx-amz-meta-a\r\n\r\n'],
    ['a trailer with an empty name', '0\r\n:value\r\n\r\n'],
  ])('InvalidRequest for %s', async (_name, body) => {
    await rejects(decode(unsigned, Buffer.from(body), 1), FerryErrorCode.InvalidRequest);
  });

  it('InvalidRequest for a signed chunk header without its signature', async () => {
    await rejects(decode(signed, Buffer.from('3\r\nabc\r\n')), FerryErrorCode.InvalidRequest);
  });

  it('caps line length so garbage without newlines cannot grow memory', async () => {
    const garbage = Buffer.alloc(1024 * 1024, 'f');
    await rejects(decode(unsigned, garbage, 997), FerryErrorCode.InvalidRequest);
    await rejects(decode({ ...unsigned, maxLineBytes: 16 }, Buffer.from(`0\r\nx-amz-meta-a:${'v'.repeat(20)}\r\n\r\n`)), FerryErrorCode.InvalidRequest);
  });

  it('caps the total size of the trailers', async () => {
    const lines = Array.from({ length: 100 }, (_, i) => `x-amz-meta-${i}:${'v'.repeat(60)}\r\n`).join('');
    await rejects(decode(unsigned, encodeUnsigned([], lines)), FerryErrorCode.InvalidRequest);
    await expect(decode({ ...unsigned, maxTrailerBytes: 64 * 1024 }, encodeUnsigned([], lines))).resolves.toBeDefined();
  });

  it('refuses to build a signed decoder without a signing context', () => {
    expect(() => new AwsChunkedDecoder({ mode: STREAMING_SIGNED_PAYLOAD })).toThrow(/signing context/);
  });
});
