import { FerryError, FerryErrorCode } from '@ferry/common';
import { createHasher, payloadProtection, readContentMd5, readRequestedChecksum } from '@ferry/s3';
import type { S3Call } from '../s3/s3-call.js';

/**
 * Reads a small request body (an XML document) with a hard cap, so a huge or endless body cannot
 * fill memory, and checks what the client signed or declared about it: the payload hash,
 * Content-MD5 and an x-amz-checksum-* header. `requireIntegrity` is S3's rule for DeleteObjects:
 * the body must carry Content-MD5 or a checksum.
 */
export async function readVerifiedSmallBody(
  call: S3Call,
  limit: number,
  options: { requireIntegrity?: boolean; checksumHeadersDescribeObject?: boolean } = {},
): Promise<Buffer> {
  const protection = payloadProtection(call.caller.auth.payloadHash);
  if (protection.kind === 'aws-chunked') {
    throw new FerryError(FerryErrorCode.InvalidRequest, 'aws-chunked encoding is not supported for this operation');
  }
  const declared = Number(call.headers['content-length'] ?? 0);
  if (declared > limit) throw new FerryError(FerryErrorCode.InvalidRequest, `request body over ${limit} bytes`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of call.req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) throw new FerryError(FerryErrorCode.InvalidRequest, `request body over ${limit} bytes`);
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (protection.kind === 'sha256') {
    const hasher = createHasher('SHA256');
    hasher.update(body);
    if (hasher.digest().toString('hex') !== protection.sha256) {
      throw new FerryError(FerryErrorCode.ContentSha256Mismatch, 'The provided x-amz-content-sha256 header does not match what was computed.');
    }
  }
  const md5 = readContentMd5(call.headers);
  if (md5) {
    const hasher = createHasher('MD5');
    hasher.update(body);
    if (!md5.equals(hasher.digest())) throw new FerryError(FerryErrorCode.BadDigest, 'The Content-MD5 you specified did not match what we received.');
  }
  // CompleteMultipartUpload's x-amz-checksum-* headers are the whole object's, not the XML's
  const checksum = options.checksumHeadersDescribeObject ? undefined : readRequestedChecksum(call.headers);
  if (checksum?.location === 'header') {
    const hasher = createHasher(checksum.algorithm);
    hasher.update(body);
    if (!checksum.expected.equals(hasher.digest())) {
      throw new FerryError(FerryErrorCode.BadDigest, `The x-amz-checksum-${checksum.algorithm.toLowerCase()} you specified did not match the calculated checksum.`);
    }
  }
  if (options.requireIntegrity && !md5 && checksum === undefined) {
    throw new FerryError(FerryErrorCode.InvalidRequest, 'Missing required header for this request: Content-MD5 or x-amz-checksum-*');
  }
  return body;
}
