import { describe, expect, it } from 'vitest';
import type { MultipartPartEntity } from '@ferry/catalog';
import { choosePart, multipartEtag, MIN_PART_BYTES, parseCompleteRequest } from './multipart-complete.js';

const part = (partNumber: number, size: number, etag: string): MultipartPartEntity =>
  ({ partNumber, size, etag, checksums: {}, spoolPath: `t/${partNumber}`, uploadId: 'u', tenantId: 't', createdAt: new Date() }) as MultipartPartEntity;

describe('CompleteMultipartUpload', () => {
  it('parses parts and strips quotes from ETags', () => {
    const parts = parseCompleteRequest(
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"aa"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part><Part><PartNumber>3</PartNumber><ETag>bb</ETag></Part></CompleteMultipartUpload>',
    );
    expect(parts).toEqual([
      { partNumber: 1, etag: 'aa', checksums: { CRC32: 'AAAAAA==' } },
      { partNumber: 3, etag: 'bb', checksums: {} },
    ]);
  });

  it('rejects malformed documents, empty lists and descending parts', () => {
    expect(() => parseCompleteRequest('<CompleteMultipartUpload><Part>')).toThrow(/well-formed|XML/);
    expect(() => parseCompleteRequest('<CompleteMultipartUpload></CompleteMultipartUpload>')).toThrow(/well-formed/);
    expect(() => parseCompleteRequest('<Other><Part><PartNumber>1</PartNumber><ETag>a</ETag></Part></Other>')).toThrow(/well-formed/);
    expect(() =>
      parseCompleteRequest(
        '<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag></Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part></CompleteMultipartUpload>',
      ),
    ).toThrow(/ascending/);
  });

  it('checks ETags and the minimum part size except for the last part', () => {
    const stored = [part(1, MIN_PART_BYTES, 'aa'), part(2, 10, 'bb'), part(3, 10, 'cc')];
    expect(choosePart([{ partNumber: 1, etag: 'aa', checksums: {} }, { partNumber: 3, etag: 'cc', checksums: {} }], stored).map((p) => p.partNumber)).toEqual([1, 3]);
    expect(() => choosePart([{ partNumber: 1, etag: 'xx', checksums: {} }], stored)).toThrow(/could not be found/);
    expect(() => choosePart([{ partNumber: 2, etag: 'bb', checksums: {} }, { partNumber: 3, etag: 'cc', checksums: {} }], stored)).toThrow(/smaller than the minimum/);
  });

  it('computes the MD5-of-MD5s ETag', () => {
    // two parts whose MD5s are all-zero and all-one bytes
    expect(multipartEtag([{ etag: '00'.repeat(16) }, { etag: 'ff'.repeat(16) }])).toMatch(/^[0-9a-f]{32}-2$/);
  });
});
