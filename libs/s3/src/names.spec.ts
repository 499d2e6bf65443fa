import { describe, expect, it } from 'vitest';
import { FerryErrorCode } from '@ferry/common';
import { bucketNameProblem, isValidBucketName, validateBucketName, validateObjectKey } from './names.js';

const expectCode = (fn: () => unknown, code: FerryErrorCode) => expect(fn).toThrow(expect.objectContaining({ code }));

describe('bucket names', () => {
  it.each(['abc', 'my-bucket', 'my.bucket.name', 'a1b2c3', '123', 'x'.repeat(63), 'bucket-xn--inside', '192.168.5.4a'])('accepts %j', (name) => {
    expect(bucketNameProblem(name)).toBeUndefined();
    expect(() => validateBucketName(name)).not.toThrow();
  });

  it.each([
    ['too short', 'ab'],
    ['too long', 'x'.repeat(64)],
    ['uppercase', 'MyBucket'],
    ['underscore', 'my_bucket'],
    ['starts with a hyphen', '-bucket'],
    ['ends with a hyphen', 'bucket-'],
    ['starts with a dot', '.bucket'],
    ['ends with a dot', 'bucket.'],
    ['adjacent dots', 'my..bucket'],
    ['dot next to hyphen', 'my.-bucket'],
    ['hyphen next to dot', 'my-.bucket'],
    ['an IP address', '192.168.5.4'],
    ['xn-- prefix', 'xn--bucket'],
    ['sthree- prefix', 'sthree-bucket'],
    ['-s3alias suffix', 'bucket-s3alias'],
    ['--ol-s3 suffix', 'bucket--ol-s3'],
    ['--x-s3 suffix', 'bucket--x-s3'],
    ['empty', ''],
    ['non-ASCII', 'bücket'],
    ['space', 'my bucket'],
  ])('refuses a name with %s', (_why, name) => {
    expect(isValidBucketName(name)).toBe(false);
    expectCode(() => validateBucketName(name), FerryErrorCode.InvalidBucketName);
  });

  it('names the bucket in the error details', () => {
    expect(() => validateBucketName('Bad')).toThrow(expect.objectContaining({ details: { BucketName: 'Bad' } }));
  });
});

describe('object keys', () => {
  it('accepts 1 to 1024 bytes of UTF-8, whatever the characters', () => {
    for (const key of ['a', 'x'.repeat(1024), 'ü'.repeat(512), '😀'.repeat(256), ' ', '../..', 'a//b', '\u0000']) {
      expect(() => validateObjectKey(key)).not.toThrow();
    }
  });

  it('KeyTooLong past 1024 bytes, counting bytes not characters', () => {
    expectCode(() => validateObjectKey('x'.repeat(1025)), FerryErrorCode.KeyTooLong);
    expectCode(() => validateObjectKey('ü'.repeat(513)), FerryErrorCode.KeyTooLong);
    expectCode(() => validateObjectKey('😀'.repeat(256) + 'a'), FerryErrorCode.KeyTooLong);
  });

  it('InvalidArgument for an empty key or one that is not valid Unicode', () => {
    expectCode(() => validateObjectKey(''), FerryErrorCode.InvalidArgument);
    expectCode(() => validateObjectKey('a\uD800b'), FerryErrorCode.InvalidArgument);
    expectCode(() => validateObjectKey('\uDC00'), FerryErrorCode.InvalidArgument);
  });
});
