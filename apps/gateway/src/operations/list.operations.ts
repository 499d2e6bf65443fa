import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { BucketsRepository, ObjectsRepository } from '@ferry/catalog';
import { requestBucket, type BucketCall } from '../s3/s3-call.js';
import { sendXml } from '../s3/responder.js';
import { SosapiOperations } from '../sosapi/sosapi.operations.js';
import { listPage, mergeListed, type ListedObject, type ListEntry, type ListRequest, type ListResult } from './listing.js';

const MAX_KEYS = 1000;

/** S3's encoding-type=url: percent-encoding with '/' kept and spaces as '+'. */
const urlEncode = (value: string) => encodeURIComponent(value).replace(/%2F/g, '/').replace(/%20/g, '+');

function maxKeysOf(query: URLSearchParams, name = 'max-keys'): number {
  const raw = query.get(name);
  if (raw === null) return MAX_KEYS;
  if (!/^\d+$/.test(raw)) throw new FerryError(FerryErrorCode.InvalidArgument, `${name} must be a non-negative integer`);
  return Math.min(Number(raw), MAX_KEYS);
}

function encodingOf(query: URLSearchParams): (value: string) => string {
  const type = query.get('encoding-type');
  if (type === null) return (value) => value;
  if (type !== 'url') throw new FerryError(FerryErrorCode.InvalidArgument, 'Invalid Encoding Method specified in Request');
  return urlEncode;
}

const contents = (object: ListedObject, encode: (value: string) => string) => ({
  Key: encode(object.key),
  LastModified: object.createdAt.toISOString(),
  ETag: `"${object.etag}"`,
  Size: object.size,
  StorageClass: 'STANDARD',
  ...(Object.keys(object.checksums).length > 0 ? { ChecksumAlgorithm: Object.keys(object.checksums) } : {}),
  ...(object.checksumType ? { ChecksumType: object.checksumType } : {}),
});

function split(entries: ListEntry[], encode: (value: string) => string) {
  return {
    Contents: entries.flatMap((entry) => (entry.kind === 'object' ? [contents(entry.object, encode)] : [])),
    CommonPrefixes: entries.flatMap((entry) => (entry.kind === 'prefix' ? [{ Prefix: encode(entry.prefix) }] : [])),
  };
}

/** ListObjects (v1), ListObjectsV2 and ListObjectVersions (every object as its `null` version). */
@Injectable()
export class ListOperations {
  constructor(
    private readonly buckets: BucketsRepository,
    private readonly objects: ObjectsRepository,
    private readonly sosapi: SosapiOperations,
  ) {}

  async listV2(call: BucketCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    const q = call.query;
    const encode = encodingOf(q);
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const token = q.get('continuation-token');
    const startAfter = q.get('start-after') ?? '';
    let after = startAfter;
    if (token !== null) {
      after = Buffer.from(token, 'base64url').toString('utf8');
      if (token === '' || Buffer.from(after, 'utf8').toString('base64url') !== token) {
        throw new FerryError(FerryErrorCode.InvalidArgument, 'The continuation token provided is incorrect');
      }
    }
    const maxKeys = maxKeysOf(q);
    const page = await this.page(call, bucket.id, { prefix, delimiter, after, maxKeys });
    const { Contents, CommonPrefixes } = split(page.entries, encode);
    sendXml(call.res, 200, 'ListBucketResult', {
      Name: bucket.name,
      Prefix: encode(prefix),
      ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
      MaxKeys: maxKeys,
      KeyCount: page.entries.length,
      IsTruncated: page.truncated,
      ...(token !== null ? { ContinuationToken: token } : {}),
      ...(page.truncated && page.last ? { NextContinuationToken: Buffer.from(page.last, 'utf8').toString('base64url') } : {}),
      ...(startAfter ? { StartAfter: encode(startAfter) } : {}),
      ...(q.has('encoding-type') ? { EncodingType: 'url' } : {}),
      Contents,
      CommonPrefixes,
    });
  }

  async listV1(call: BucketCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    const q = call.query;
    const encode = encodingOf(q);
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const marker = q.get('marker') ?? '';
    const maxKeys = maxKeysOf(q);
    const page = await this.page(call, bucket.id, { prefix, delimiter, after: marker, maxKeys });
    const { Contents, CommonPrefixes } = split(page.entries, encode);
    sendXml(call.res, 200, 'ListBucketResult', {
      Name: bucket.name,
      Prefix: encode(prefix),
      Marker: encode(marker),
      ...(page.truncated && page.last && delimiter ? { NextMarker: encode(page.last) } : {}),
      MaxKeys: maxKeys,
      ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
      IsTruncated: page.truncated,
      ...(q.has('encoding-type') ? { EncodingType: 'url' } : {}),
      Contents,
      CommonPrefixes,
    });
  }

  /** Unversioned buckets: every object is its `null` version and the latest one. */
  async listVersions(call: BucketCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    const q = call.query;
    const encode = encodingOf(q);
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') ?? '';
    const keyMarker = q.get('key-marker') ?? '';
    const versionMarker = q.get('version-id-marker');
    if (versionMarker !== null && versionMarker !== '' && versionMarker !== 'null') {
      throw new FerryError(FerryErrorCode.InvalidArgument, 'Invalid version id specified');
    }
    const maxKeys = maxKeysOf(q);
    const page = await this.page(call, bucket.id, { prefix, delimiter, after: keyMarker, maxKeys });
    const lastEntry = page.entries.at(-1);
    sendXml(call.res, 200, 'ListVersionsResult', {
      Name: bucket.name,
      Prefix: encode(prefix),
      KeyMarker: encode(keyMarker),
      VersionIdMarker: versionMarker ?? '',
      ...(page.truncated && page.last
        ? { NextKeyMarker: encode(page.last), ...(lastEntry?.kind === 'object' ? { NextVersionIdMarker: 'null' } : {}) }
        : {}),
      MaxKeys: maxKeys,
      ...(delimiter ? { Delimiter: encode(delimiter) } : {}),
      IsTruncated: page.truncated,
      ...(q.has('encoding-type') ? { EncodingType: 'url' } : {}),
      Version: page.entries.flatMap((entry) =>
        entry.kind === 'object'
          ? [
              {
                Key: encode(entry.object.key),
                VersionId: entry.object.versionId,
                IsLatest: entry.object.isLatest,
                LastModified: entry.object.createdAt.toISOString(),
                ETag: `"${entry.object.etag}"`,
                Size: entry.object.size,
                StorageClass: 'STANDARD',
                Owner: { ID: call.caller.tenantId, DisplayName: call.caller.tenantId },
              },
            ]
          : [],
      ),
      CommonPrefixes: page.entries.flatMap((entry) => (entry.kind === 'prefix' ? [{ Prefix: encode(entry.prefix) }] : [])),
    });
  }

  /** The catalog's page, with Veeam's SOSAPI files merged in when the prefix asks for their folder. */
  private async page(call: BucketCall, bucketId: string, request: ListRequest): Promise<ListResult> {
    const [page, virtual] = await Promise.all([
      listPage(this.objects, call.caller.tenantId, bucketId, request),
      this.sosapi.listed(call.caller.tenantId, request.prefix),
    ]);
    return mergeListed(page, virtual, request);
  }
}
