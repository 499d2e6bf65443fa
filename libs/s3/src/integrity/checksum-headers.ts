import { FerryError, FerryErrorCode } from '@ferry/common';
import { headerValue, type HeaderBag } from '../http/headers.js';
import {
  CHECKSUM_ALGORITHMS,
  checksumHeaderName,
  decodeChecksum,
  parseChecksumAlgorithm,
  type ChecksumAlgorithm,
} from './checksums.js';

/** The one additional checksum a request asks S3 to verify, and where its value arrives. */
export type RequestedChecksum =
  | { algorithm: ChecksumAlgorithm; location: 'header'; expected: Buffer }
  | { algorithm: ChecksumAlgorithm; location: 'trailer' };

const CHECKSUM_PREFIX = 'x-amz-checksum-';

/**
 * Reads `x-amz-checksum-<alg>`, `x-amz-trailer` and `x-amz-sdk-checksum-algorithm` the way S3 does:
 * at most one checksum per request, the SDK's declared algorithm must agree with it, and a declared
 * algorithm without a value or a trailer is an error. Returns undefined when no checksum was asked
 * for. `x-amz-checksum-algorithm` and `x-amz-checksum-type` (CreateMultipartUpload) are not values
 * and are left to the caller.
 */
export function readRequestedChecksum(headers: HeaderBag): RequestedChecksum | undefined {
  const found: RequestedChecksum[] = [];
  for (const algorithm of CHECKSUM_ALGORITHMS) {
    const value = headerValue(headers, checksumHeaderName(algorithm));
    if (value !== undefined) {
      found.push({ algorithm, location: 'header', expected: decodeChecksum(algorithm, value.trim()) });
    }
  }
  for (const name of declaredTrailers(headers)) {
    if (!name.startsWith(CHECKSUM_PREFIX)) continue;
    found.push({ algorithm: parseChecksumAlgorithm(name.slice(CHECKSUM_PREFIX.length)), location: 'trailer' });
  }
  if (found.length > 1) {
    throw new FerryError(
      FerryErrorCode.InvalidRequest,
      'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.',
    );
  }
  const requested = found[0];

  const sdkAlgorithm = headerValue(headers, 'x-amz-sdk-checksum-algorithm');
  if (sdkAlgorithm !== undefined) {
    const declared = parseChecksumAlgorithm(sdkAlgorithm);
    if (requested === undefined) {
      throw new FerryError(
        FerryErrorCode.InvalidRequest,
        'x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer ' +
          'headers were found.',
      );
    }
    if (declared !== requested.algorithm) {
      throw new FerryError(
        FerryErrorCode.InvalidRequest,
        'Value for x-amz-sdk-checksum-algorithm header is invalid.',
        { Declared: declared, Sent: requested.algorithm },
      );
    }
  }
  return requested;
}

/** Trailer names declared in `x-amz-trailer`, lowercased. */
export function declaredTrailers(headers: HeaderBag): string[] {
  const value = headerValue(headers, 'x-amz-trailer');
  if (value === undefined) return [];
  return value
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name.length > 0);
}

/**
 * The expected digest of a trailer checksum, read from the trailers an aws-chunked decoder parsed.
 * A declared trailer that never arrived is an IncompleteBody, like a short body.
 */
export function readTrailerChecksum(algorithm: ChecksumAlgorithm, trailers: ReadonlyMap<string, string>): Buffer {
  const name = checksumHeaderName(algorithm);
  const value = trailers.get(name);
  if (value === undefined) {
    throw new FerryError(FerryErrorCode.IncompleteBody, `The declared trailer ${name} was not sent.`);
  }
  return decodeChecksum(algorithm, value);
}

/** `Content-MD5`, decoded; a value that is not base64 of 16 bytes is InvalidDigest, as in S3. */
export function readContentMd5(headers: HeaderBag): Buffer | undefined {
  const value = headerValue(headers, 'content-md5');
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  const digest = Buffer.from(trimmed, 'base64');
  if (digest.length !== 16 || digest.toString('base64') !== trimmed) {
    throw new FerryError(FerryErrorCode.InvalidDigest, 'The Content-MD5 you specified was invalid.');
  }
  return digest;
}
