import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { BucketsRepository, ObjectsRepository } from '@ferry/catalog';
import { parseChecksumAlgorithm, validateObjectKey, type ChecksumAlgorithm } from '@ferry/s3';
import { IngestService } from '../ingest/ingest.service.js';
import { ObjectCommitter } from '../ingest/object-committer.js';
import { ObjectReader } from '../read/object-reader.js';
import { header, requestBucket, type ObjectCall } from '../s3/s3-call.js';
import { sendXml } from '../s3/responder.js';
import { resolveCopySource } from './copy-source.js';
import { storedHeadersOf, userMetadataOf } from './object-headers.js';

/**
 * CopyObject within one tenant. The bytes are copied into a new spool file and forwarded like any
 * upload, so the copy is independent of its source from the moment it is acknowledged. (The
 * repackaging engine will copy chunk references instead.)
 */
@Injectable()
export class CopyObjectOperation {
  constructor(
    private readonly buckets: BucketsRepository,
    private readonly objects: ObjectsRepository,
    private readonly ingest: IngestService,
    private readonly reader: ObjectReader,
    private readonly committer: ObjectCommitter,
  ) {}

  async copyObject(call: ObjectCall): Promise<void> {
    validateObjectKey(call.key);
    const target = await requestBucket(call, this.buckets);
    const source = await resolveCopySource(call, this.buckets, this.objects);
    const directive = (header(call, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase();
    if (directive !== 'COPY' && directive !== 'REPLACE') {
      throw new FerryError(FerryErrorCode.InvalidArgument, 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive' });
    }
    const requested = header(call, 'x-amz-checksum-algorithm');
    const sourceAlgorithm = Object.keys(source.checksums)[0] as ChecksumAlgorithm | undefined;
    const algorithm = requested ? parseChecksumAlgorithm(requested) : sourceAlgorithm;
    if (source.bucketId === target.id && source.key === call.key && directive === 'COPY' && !requested) {
      throw new FerryError(
        FerryErrorCode.InvalidRequest,
        "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
      );
    }
    const stream = await this.reader.open(call.caller.container, source, { start: 0, end: source.size - 1 });
    const copied = await this.ingest.copy(call.caller.tenantId, stream, source.size, algorithm);
    await this.committer.commit(call.caller, target.id, {
      id: randomUUID(),
      key: call.key,
      size: copied.size,
      etag: copied.md5Hex,
      contentType: directive === 'COPY' ? source.contentType : (header(call, 'content-type') ?? null),
      headers: directive === 'COPY' ? source.headers : storedHeadersOf(call),
      userMetadata: directive === 'COPY' ? source.userMetadata : userMetadataOf(call),
      checksums: copied.checksum ? { [copied.checksum.algorithm]: copied.checksum.value } : {},
      checksumType: copied.checksum ? 'FULL_OBJECT' : null,
      parts: null,
      spool: [{ path: copied.spoolPath, size: copied.size }],
    });
    sendXml(call.res, 200, 'CopyObjectResult', {
      ETag: `"${copied.md5Hex}"`,
      LastModified: new Date().toISOString(),
      ...(copied.checksum ? { [`Checksum${copied.checksum.algorithm}`]: copied.checksum.value, ChecksumType: 'FULL_OBJECT' } : {}),
    });
  }
}
