import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Crc32, Crc32c, Crc64NvmeJs } from '@aws-sdk/checksums/crc';
import { FerryErrorCode } from '@ferry/common';
import {
  CHECKSUM_ALGORITHMS,
  checksumHeaderName,
  createHasher,
  decodeChecksum,
  digestOf,
  encodeChecksum,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
} from './checksums.js';

const CHECK = Buffer.from('123456789');

const expectCode = (fn: () => unknown, code: FerryErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

describe('checksum algorithms against published check values', () => {
  it.each([
    ['CRC32', 'cbf43926'],
    ['CRC32C', 'e3069283'],
    ['CRC64NVME', 'ae8b14860a799888'],
    ['SHA1', 'f7c3bc1d808e04732adf679965ccc34ca7ae3441'],
    ['SHA256', '15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225'],
    ['MD5', '25f9e794323b453885f5181f1b624d0b'],
  ] as const)('%s("123456789") = %s', (algorithm, hex) => {
    expect(digestOf(algorithm, CHECK).toString('hex')).toBe(hex);
  });

  it('hashers fed nothing give the empty-input digests', () => {
    for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
      expect(createHasher(algorithm).digest().every((byte) => byte === 0)).toBe(true);
    }
    expect(createHasher('SHA256').digest().toString('hex')).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });
});

describe('incremental hashing', () => {
  it.each(CHECKSUM_ALGORITHMS)('%s gives the same digest however the input is split', (algorithm) => {
    const data = randomBytes(10_007);
    const whole = digestOf(algorithm, data);
    for (const step of [1, 3, 7, 8, 9, 64, 4099]) {
      const hasher = createHasher(algorithm);
      for (let i = 0; i < data.length; i += step) hasher.update(data.subarray(i, i + step));
      expect(hasher.digest(), `${algorithm} in steps of ${step}`).toEqual(whole);
    }
  });
});

describe('agreement with the AWS SDK checksum implementations', () => {
  const sdk: Partial<Record<ChecksumAlgorithm, () => { update(d: Uint8Array): void; digest(): Promise<Uint8Array> }>> = {
    CRC32: () => new Crc32(),
    CRC32C: () => new Crc32c(),
    CRC64NVME: () => new Crc64NvmeJs(),
  };

  it.each(Object.keys(sdk) as ChecksumAlgorithm[])('%s matches the SDK on random data of many lengths', async (algorithm) => {
    for (const length of [0, 1, 7, 8, 15, 16, 255, 1000, 65_537]) {
      const data = randomBytes(length);
      const theirs = sdk[algorithm]!();
      theirs.update(data);
      expect(digestOf(algorithm, data), `${algorithm} of ${length} bytes`).toEqual(Buffer.from(await theirs.digest()));
    }
  });
});

describe('names and encodings', () => {
  it('maps algorithms to their header names', () => {
    expect(checksumHeaderName('CRC64NVME')).toBe('x-amz-checksum-crc64nvme');
    expect(checksumHeaderName('SHA256')).toBe('x-amz-checksum-sha256');
  });

  it('reads algorithm names case-insensitively and refuses unknown ones', () => {
    expect(parseChecksumAlgorithm('crc32c')).toBe('CRC32C');
    expect(parseChecksumAlgorithm(' Sha1 ')).toBe('SHA1');
    expectCode(() => parseChecksumAlgorithm('md5'), FerryErrorCode.InvalidRequest);
    expectCode(() => parseChecksumAlgorithm('xxhash64'), FerryErrorCode.InvalidRequest);
  });

  it('encodes as base64 of the big-endian digest, as S3 does', () => {
    expect(encodeChecksum(digestOf('CRC32', CHECK))).toBe('y/Q5Jg==');
    expect(encodeChecksum(digestOf('CRC32C', CHECK))).toBe('4waSgw==');
  });

  it('round-trips a checksum value and refuses wrong lengths and non-canonical base64', () => {
    expect(decodeChecksum('CRC32', 'y/Q5Jg==').toString('hex')).toBe('cbf43926');
    expectCode(() => decodeChecksum('CRC32', 'AAAAAAAAAAA='), FerryErrorCode.InvalidRequest);
    expectCode(() => decodeChecksum('SHA256', 'y/Q5Jg=='), FerryErrorCode.InvalidRequest);
    expectCode(() => decodeChecksum('CRC32', 'y/Q5Jg'), FerryErrorCode.InvalidRequest);
    expectCode(() => decodeChecksum('CRC32', 'y/Q5J!g=='), FerryErrorCode.InvalidRequest);
    expectCode(() => decodeChecksum('CRC32', ''), FerryErrorCode.InvalidRequest);
  });
});
