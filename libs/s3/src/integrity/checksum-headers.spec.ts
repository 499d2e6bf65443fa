import { describe, expect, it } from 'vitest';
import { FerryErrorCode } from '@ferry/common';
import { declaredTrailers, readContentMd5, readRequestedChecksum, readTrailerChecksum } from './checksum-headers.js';

const expectCode = (fn: () => unknown, code: FerryErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

describe('readRequestedChecksum', () => {
  it('returns nothing when no checksum is asked for', () => {
    expect(readRequestedChecksum({ 'content-length': '3' })).toBeUndefined();
    // CreateMultipartUpload's algorithm and type headers are not checksum values.
    expect(readRequestedChecksum({ 'x-amz-checksum-algorithm': 'CRC32', 'x-amz-checksum-type': 'COMPOSITE' })).toBeUndefined();
  });

  it('reads a checksum sent as a header, with the SDK algorithm agreeing', () => {
    const requested = readRequestedChecksum({
      'x-amz-checksum-crc32': 'y/Q5Jg==',
      'x-amz-sdk-checksum-algorithm': 'CRC32',
    });
    expect(requested).toEqual({ algorithm: 'CRC32', location: 'header', expected: Buffer.from('cbf43926', 'hex') });
  });

  it('reads a checksum announced as a trailer', () => {
    expect(readRequestedChecksum({ 'x-amz-trailer': 'x-amz-checksum-crc64nvme', 'x-amz-sdk-checksum-algorithm': 'crc64nvme' })).toEqual({
      algorithm: 'CRC64NVME',
      location: 'trailer',
    });
  });

  it('finds headers whatever their case in a hand-built bag', () => {
    expect(readRequestedChecksum({ 'X-Amz-Checksum-Crc32c': '4waSgw==' })?.algorithm).toBe('CRC32C');
  });

  it('refuses two checksums, in headers or header plus trailer', () => {
    expectCode(
      () => readRequestedChecksum({ 'x-amz-checksum-crc32': 'y/Q5Jg==', 'x-amz-checksum-crc32c': '4waSgw==' }),
      FerryErrorCode.InvalidRequest,
    );
    expectCode(
      () => readRequestedChecksum({ 'x-amz-checksum-crc32': 'y/Q5Jg==', 'x-amz-trailer': 'x-amz-checksum-sha1' }),
      FerryErrorCode.InvalidRequest,
    );
  });

  it('refuses an SDK algorithm with no value, or one that disagrees', () => {
    expectCode(() => readRequestedChecksum({ 'x-amz-sdk-checksum-algorithm': 'CRC32' }), FerryErrorCode.InvalidRequest);
    expectCode(
      () => readRequestedChecksum({ 'x-amz-sdk-checksum-algorithm': 'SHA256', 'x-amz-checksum-crc32': 'y/Q5Jg==' }),
      FerryErrorCode.InvalidRequest,
    );
  });

  it('refuses malformed values and unknown trailer algorithms', () => {
    expectCode(() => readRequestedChecksum({ 'x-amz-checksum-crc32': 'not base64!' }), FerryErrorCode.InvalidRequest);
    expectCode(() => readRequestedChecksum({ 'x-amz-checksum-sha256': 'y/Q5Jg==' }), FerryErrorCode.InvalidRequest);
    expectCode(() => readRequestedChecksum({ 'x-amz-trailer': 'x-amz-checksum-xxhash3' }), FerryErrorCode.InvalidRequest);
  });
});

describe('trailers', () => {
  it('lists declared trailers lowercased', () => {
    expect(declaredTrailers({ 'x-amz-trailer': ' X-Amz-Checksum-CRC32 , x-amz-meta-a' })).toEqual([
      'x-amz-checksum-crc32',
      'x-amz-meta-a',
    ]);
    expect(declaredTrailers({})).toEqual([]);
  });

  it('reads the expected digest from decoded trailers, and insists it arrived', () => {
    const trailers = new Map([['x-amz-checksum-crc32', 'y/Q5Jg==']]);
    expect(readTrailerChecksum('CRC32', trailers).toString('hex')).toBe('cbf43926');
    expectCode(() => readTrailerChecksum('CRC32C', trailers), FerryErrorCode.IncompleteBody);
    expectCode(() => readTrailerChecksum('CRC32', new Map([['x-amz-checksum-crc32', 'xx']])), FerryErrorCode.InvalidRequest);
  });
});

describe('readContentMd5', () => {
  it('decodes a valid Content-MD5 and refuses anything else with InvalidDigest', () => {
    expect(readContentMd5({ 'content-md5': 'JfnnlDI7RTiF9RgfG2JNCw==' })?.toString('hex')).toBe('25f9e794323b453885f5181f1b624d0b');
    expect(readContentMd5({})).toBeUndefined();
    expectCode(() => readContentMd5({ 'content-md5': '25f9e794323b453885f5181f1b624d0b' }), FerryErrorCode.InvalidDigest);
    expectCode(() => readContentMd5({ 'content-md5': 'y/Q5Jg==' }), FerryErrorCode.InvalidDigest);
  });
});
