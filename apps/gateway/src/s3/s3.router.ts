import { FerryError, FerryErrorCode, unreachable } from '@ferry/common';
import type { RequestClass } from '@ferry/ledger-contracts';
import type { Address } from './addressing.js';

export enum S3Operation {
  ListBuckets = 'ListBuckets',
  CreateBucket = 'CreateBucket',
  HeadBucket = 'HeadBucket',
  DeleteBucket = 'DeleteBucket',
  GetBucketLocation = 'GetBucketLocation',
  GetBucketVersioning = 'GetBucketVersioning',
  ListObjects = 'ListObjects',
  ListObjectsV2 = 'ListObjectsV2',
  ListObjectVersions = 'ListObjectVersions',
  ListMultipartUploads = 'ListMultipartUploads',
  DeleteObjects = 'DeleteObjects',
  PutObject = 'PutObject',
  CopyObject = 'CopyObject',
  GetObject = 'GetObject',
  HeadObject = 'HeadObject',
  DeleteObject = 'DeleteObject',
  CreateMultipartUpload = 'CreateMultipartUpload',
  UploadPart = 'UploadPart',
  UploadPartCopy = 'UploadPartCopy',
  CompleteMultipartUpload = 'CompleteMultipartUpload',
  AbortMultipartUpload = 'AbortMultipartUpload',
  ListParts = 'ListParts',
}

/** Operations that change data: refused for suspended tenants. */
export const WRITE_OPERATIONS = new Set<S3Operation>([
  S3Operation.CreateBucket,
  S3Operation.DeleteBucket,
  S3Operation.DeleteObjects,
  S3Operation.PutObject,
  S3Operation.CopyObject,
  S3Operation.DeleteObject,
  S3Operation.CreateMultipartUpload,
  S3Operation.UploadPart,
  S3Operation.UploadPartCopy,
  S3Operation.CompleteMultipartUpload,
  S3Operation.AbortMultipartUpload,
]);

/** Bucket subresources Ferry does not serve (yet); asking for one is NotImplemented, never a silent listing. */
const UNSUPPORTED_SUBRESOURCES = [
  'acl', 'policy', 'policyStatus', 'cors', 'lifecycle', 'tagging', 'website', 'logging', 'notification', 'replication',
  'encryption', 'object-lock', 'retention', 'legal-hold', 'accelerate', 'requestPayment', 'analytics', 'metrics',
  'inventory', 'intelligent-tiering', 'ownershipControls', 'publicAccessBlock', 'restore', 'select', 'attributes',
  'torrent', 'session',
];

const notImplemented = (what: string) => new FerryError(FerryErrorCode.NotImplemented, `${what} is not implemented`);
const methodNotAllowed = () => new FerryError(FerryErrorCode.MethodNotAllowed, 'The specified method is not allowed against this resource.');

/**
 * Chooses the S3 operation from the method, whether a bucket and key are present, and the
 * subresource query parameters (`?uploads`, `?delete`, `?list-type=2`, ...).
 */
export function resolveOperation(method: string, address: Address, query: URLSearchParams, copySource: boolean): S3Operation {
  const has = (name: string) => query.has(name);
  const unsupported = UNSUPPORTED_SUBRESOURCES.find(has);
  if (address.bucket === undefined) {
    if (method === 'GET') return S3Operation.ListBuckets;
    throw methodNotAllowed();
  }
  if (address.key === undefined) {
    if (method === 'PUT' && has('versioning')) throw notImplemented('PutBucketVersioning');
    if (unsupported) throw notImplemented(`bucket ${unsupported}`);
    switch (method) {
      case 'PUT':
        return S3Operation.CreateBucket;
      case 'HEAD':
        return S3Operation.HeadBucket;
      case 'DELETE':
        return S3Operation.DeleteBucket;
      case 'POST':
        if (has('delete')) return S3Operation.DeleteObjects;
        throw methodNotAllowed();
      case 'GET':
        if (has('location')) return S3Operation.GetBucketLocation;
        if (has('versioning')) return S3Operation.GetBucketVersioning;
        if (has('versions')) return S3Operation.ListObjectVersions;
        if (has('uploads')) return S3Operation.ListMultipartUploads;
        if (query.get('list-type') === '2') return S3Operation.ListObjectsV2;
        return S3Operation.ListObjects;
      default:
        throw methodNotAllowed();
    }
  }
  if (unsupported) throw notImplemented(`object ${unsupported}`);
  switch (method) {
    case 'PUT':
      if (has('partNumber') || has('uploadId')) return copySource ? S3Operation.UploadPartCopy : S3Operation.UploadPart;
      return copySource ? S3Operation.CopyObject : S3Operation.PutObject;
    case 'GET':
      return has('uploadId') ? S3Operation.ListParts : S3Operation.GetObject;
    case 'HEAD':
      return S3Operation.HeadObject;
    case 'DELETE':
      return has('uploadId') ? S3Operation.AbortMultipartUpload : S3Operation.DeleteObject;
    case 'POST':
      if (has('uploads')) return S3Operation.CreateMultipartUpload;
      if (has('uploadId')) return S3Operation.CompleteMultipartUpload;
      throw methodNotAllowed();
    default:
      throw methodNotAllowed();
  }
}

/** The metering class of each operation (exhaustive: a new operation fails the build until classed). */
export function requestClass(operation: S3Operation): RequestClass {
  switch (operation) {
    case S3Operation.CreateBucket:
    case S3Operation.PutObject:
    case S3Operation.CopyObject:
    case S3Operation.CreateMultipartUpload:
    case S3Operation.UploadPart:
    case S3Operation.UploadPartCopy:
    case S3Operation.CompleteMultipartUpload:
      return 'write';
    case S3Operation.HeadBucket:
    case S3Operation.GetBucketLocation:
    case S3Operation.GetBucketVersioning:
    case S3Operation.GetObject:
    case S3Operation.HeadObject:
      return 'read';
    case S3Operation.ListBuckets:
    case S3Operation.ListObjects:
    case S3Operation.ListObjectsV2:
    case S3Operation.ListObjectVersions:
    case S3Operation.ListMultipartUploads:
    case S3Operation.ListParts:
      return 'list';
    case S3Operation.DeleteBucket:
    case S3Operation.DeleteObjects:
    case S3Operation.DeleteObject:
    case S3Operation.AbortMultipartUpload:
      return 'delete';
    default:
      return unreachable(operation);
  }
}
