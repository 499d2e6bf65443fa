import { FerryError, FerryErrorCode } from '@ferry/common';

/** The `x-amz-content-sha256` values that are not a literal hash. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED_PAYLOAD = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_PAYLOAD_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_PAYLOAD_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const STREAMING_ECDSA_PREFIX = 'STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD';

/** SHA-256 of the empty string, hex: what a body-less request signs, and part of every chunk's string to sign. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export type AwsChunkedMode =
  | typeof STREAMING_SIGNED_PAYLOAD
  | typeof STREAMING_SIGNED_PAYLOAD_TRAILER
  | typeof STREAMING_UNSIGNED_PAYLOAD_TRAILER;

/**
 * How the body of a request is protected, read from its payload hash:
 * - `sha256`: the body must hash to `sha256` (hex, lowercase), else ContentSha256Mismatch;
 * - `unsigned`: nothing to check beyond the transport;
 * - `aws-chunked`: the body is aws-chunked, decode it with AwsChunkedDecoder in `mode`.
 */
export type PayloadProtection =
  | { kind: 'sha256'; sha256: string }
  | { kind: 'unsigned' }
  | { kind: 'aws-chunked'; mode: AwsChunkedMode };

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/** Validates an `x-amz-content-sha256` value; S3 answers InvalidArgument for anything it does not know. */
export function payloadProtection(payloadHash: string): PayloadProtection {
  switch (payloadHash) {
    case UNSIGNED_PAYLOAD:
      return { kind: 'unsigned' };
    case STREAMING_SIGNED_PAYLOAD:
    case STREAMING_SIGNED_PAYLOAD_TRAILER:
    case STREAMING_UNSIGNED_PAYLOAD_TRAILER:
      return { kind: 'aws-chunked', mode: payloadHash };
  }
  if (HEX_SHA256.test(payloadHash)) return { kind: 'sha256', sha256: payloadHash.toLowerCase() };
  if (payloadHash.startsWith(STREAMING_ECDSA_PREFIX)) {
    throw new FerryError(FerryErrorCode.NotImplemented, 'SigV4a (ECDSA) streaming payloads are not supported.');
  }
  throw new FerryError(
    FerryErrorCode.InvalidArgument,
    'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, ' +
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.',
    { ArgumentName: 'x-amz-content-sha256', ArgumentValue: payloadHash.slice(0, 100) },
  );
}
