import { FerryError, FerryErrorCode } from '@ferry/common';

/**
 * Prefixes and suffixes S3 reserves for its own features (access-point aliases, Object Lambda,
 * directory and table buckets, documentation examples). A bucket named like one would be
 * misrouted by clients that know the convention.
 */
const RESERVED_PREFIXES = ['xn--', 'sthree-', 'amzn-s3-demo-'];
const RESERVED_SUFFIXES = ['-s3alias', '--ol-s3', '.mrap', '--x-s3', '--table-s3'];
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4_LIKE = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
const MAX_KEY_BYTES = 1024;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The reason a bucket name breaks S3's general-purpose bucket naming rules, or undefined if it does not. */
export function bucketNameProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return 'Bucket names must be between 3 and 63 characters long.';
  if (!BUCKET_NAME.test(name)) {
    return (
      'Bucket names may contain only lowercase letters, digits, dots and hyphens, ' +
      'and must begin and end with a letter or digit.'
    );
  }
  if (name.includes('..')) return 'Bucket names must not contain two adjacent periods.';
  // A label may not begin or end with a hyphen, so virtual-hosted DNS names would break.
  if (name.includes('.-') || name.includes('-.')) return 'Bucket names must not contain a hyphen next to a period.';
  if (IPV4_LIKE.test(name)) return 'Bucket names must not be formatted as an IP address.';
  if (RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix))) {
    return 'Bucket names must not use a reserved prefix.';
  }
  if (RESERVED_SUFFIXES.some((suffix) => name.endsWith(suffix))) {
    return 'Bucket names must not use a reserved suffix.';
  }
  return undefined;
}

export function isValidBucketName(name: string): boolean {
  return bucketNameProblem(name) === undefined;
}

/** Throws InvalidBucketName unless `name` is a valid S3 bucket name. */
export function validateBucketName(name: string): void {
  const problem = bucketNameProblem(name);
  if (problem !== undefined) {
    throw new FerryError(FerryErrorCode.InvalidBucketName, `The specified bucket is not valid. ${problem}`, {
      BucketName: name,
    });
  }
}

/**
 * An object key is 1–1024 bytes of UTF-8. A key holding an unpaired surrogate (possible when a
 * client percent-encodes invalid UTF-8) has no UTF-8 form at all, so it is refused rather than
 * silently stored as U+FFFD and confused with another key.
 */
export function validateObjectKey(key: string): void {
  if (key.length === 0) throw new FerryError(FerryErrorCode.InvalidArgument, 'Object keys must not be empty.');
  if (LONE_SURROGATE.test(key)) {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'Object keys must be valid UTF-8.');
  }
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > MAX_KEY_BYTES) {
    throw new FerryError(FerryErrorCode.KeyTooLong, 'Your key is too long.', {
      Size: bytes,
      MaxSizeAllowed: MAX_KEY_BYTES,
    });
  }
}
