import { FerryError, FerryErrorCode } from '@ferry/common';
import { NULL_VERSION, type BucketsRepository, type ObjectsRepository, type ObjectVersionEntity } from '@ferry/catalog';
import { validateObjectKey } from '@ferry/s3';
import { checkPreconditions } from '../read/conditions.js';
import { header, type ObjectCall } from '../s3/s3-call.js';

export interface CopySource {
  bucket: string;
  key: string;
  versionId: string;
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=…]`, URL-encoded. */
export function parseCopySource(value: string): CopySource {
  const [path, query = ''] = value.split('?', 2);
  let decoded: string;
  try {
    decoded = decodeURIComponent(path).replace(/^\//, '');
  } catch {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
  }
  const versionId = new URLSearchParams(query).get('versionId') ?? NULL_VERSION;
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), versionId };
}

/**
 * Finds the copy source within the caller's own tenant (another tenant's bucket of the same name
 * is simply not visible) and applies the x-amz-copy-source-if-* preconditions, which fail with 412.
 */
export async function resolveCopySource(
  call: ObjectCall,
  buckets: BucketsRepository,
  objects: ObjectsRepository,
): Promise<ObjectVersionEntity> {
  const source = parseCopySource(header(call, 'x-amz-copy-source') ?? '');
  validateObjectKey(source.key);
  if (source.versionId !== NULL_VERSION) {
    throw new FerryError(FerryErrorCode.NoSuchVersion, 'The specified version does not exist.');
  }
  const bucket = await buckets.get(call.caller.tenantId, source.bucket);
  const object = await objects.getVersion(call.caller.tenantId, bucket.id, source.key, source.versionId);
  if (!object || object.isDeleteMarker) {
    throw new FerryError(FerryErrorCode.NoSuchKey, 'The specified key does not exist.', { Key: source.key });
  }
  try {
    checkPreconditions(
      {
        'if-match': header(call, 'x-amz-copy-source-if-match'),
        'if-none-match': header(call, 'x-amz-copy-source-if-none-match'),
        'if-modified-since': header(call, 'x-amz-copy-source-if-modified-since'),
        'if-unmodified-since': header(call, 'x-amz-copy-source-if-unmodified-since'),
      },
      { etag: object.etag, lastModified: object.createdAt },
    );
  } catch (error) {
    // for copies, "not modified" is a failed precondition too
    if (error instanceof FerryError && error.code === FerryErrorCode.NotModified) {
      throw new FerryError(FerryErrorCode.PreconditionFailed, 'At least one of the pre-conditions you specified did not hold');
    }
    throw error;
  }
  return object;
}
