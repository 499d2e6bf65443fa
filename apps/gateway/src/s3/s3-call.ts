import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { BucketEntity, BucketsRepository, ObjectVersionEntity } from '@ferry/catalog';
import type { ParsedAuthorization, SigningContext } from '@ferry/s3';
import type { Address } from './addressing.js';

/** The authenticated caller: one access key, exactly one tenant. */
export interface Caller {
  tenantId: string;
  container: string;
  accessKeyId: string;
  tenantStatus: 'active' | 'suspended';
  /** The end of the tenant's service lease, if it has one. */
  leaseExpiresAt: Date | null;
  /** Whether a tenant that may not write may not read either. */
  blockReads: boolean;
  auth: ParsedAuthorization;
  /** For aws-chunked bodies: the seed signature and key that chain the chunk signatures. */
  signing: SigningContext;
  /** The request's bucket, read with the access key (undefined: not looked up; null: none). */
  bucket?: BucketEntity | null;
  /** The object version a GET or HEAD names, read with the access key and the bucket (version null: none). */
  object?: { key: string; versionId: string; version: ObjectVersionEntity | null };
}

/** One S3 request as the dispatcher and operations see it. */
export interface S3Call {
  requestId: string;
  method: string;
  /** The request target exactly as sent (path and query), for signature checks. */
  rawUrl: string;
  rawPath: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  address: Address;
  req: IncomingMessage;
  res: ServerResponse;
  caller: Caller;
}

/** A bucket-level call: the dispatcher has checked the bucket name is present. */
export type BucketCall = S3Call & { bucket: string };
/** An object-level call: bucket and key both present. */
export type ObjectCall = BucketCall & { key: string };

export function header(call: Pick<S3Call, 'headers'>, name: string): string | undefined {
  const value = call.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

/** The caller's bucket the request names: the one read with the access key, else from the catalog. */
export function requestBucket(call: BucketCall, buckets: BucketsRepository): Promise<BucketEntity> {
  const known = call.caller.bucket;
  if (known && known.name === call.bucket) return Promise.resolve(known);
  // not read with the key, or absent then: the catalog answers (NoSuchBucket, or a bucket created since)
  return buckets.get(call.caller.tenantId, call.bucket);
}
