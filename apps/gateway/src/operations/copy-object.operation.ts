import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { BucketsRepository, ObjectsRepository, type NewObjectVersion, type ObjectVersionEntity } from '@ferry/catalog';
import { parseChecksumAlgorithm, validateObjectKey, type ChecksumAlgorithm } from '@ferry/s3';
import { IngestService } from '../ingest/ingest.service.js';
import { ObjectCommitter } from '../ingest/object-committer.js';
import { QuotaReservations } from '../quota/reservations.js';
import { ObjectReader } from '../read/object-reader.js';
import { header, requestBucket, type ObjectCall } from '../s3/s3-call.js';
import { sendXml } from '../s3/responder.js';
import { resolveCopySource } from './copy-source.js';
import { storedHeadersOf, userMetadataOf } from './object-headers.js';

/**
 * CopyObject within one tenant. A repacked source is copied by reference: the copy gets the
 * source's manifest, its chunks one more reference each. Otherwise (the source is still only in the
 * spool, or its ETag or checksum must be recomputed) the bytes are copied into a new spool file and
 * repacked like any upload, where dedup finds them again.
 */
@Injectable()
export class CopyObjectOperation {
  constructor(
    private readonly buckets: BucketsRepository,
    private readonly objects: ObjectsRepository,
    private readonly ingest: IngestService,
    private readonly reader: ObjectReader,
    private readonly committer: ObjectCommitter,
    private readonly quota: QuotaReservations,
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
    const described = {
      key: call.key,
      contentType: directive === 'COPY' ? source.contentType : (header(call, 'content-type') ?? null),
      headers: directive === 'COPY' ? source.headers : storedHeadersOf(call),
      userMetadata: directive === 'COPY' ? source.userMetadata : userMetadataOf(call),
      parts: null,
    };
    // a copy is new logical bytes even when it shares every chunk with its source
    const copied = await this.quota.within(
      call.caller.tenantId,
      source.size,
      async () =>
        (await this.copyByReference(call, target.id, source, described, algorithm)) ??
        (await this.copyBytes(call, target.id, source, described, algorithm)),
    );
    sendXml(call.res, 200, 'CopyObjectResult', {
      ETag: `"${copied.etag}"`,
      LastModified: new Date().toISOString(),
      ...(copied.checksum ? { [`Checksum${copied.checksum.algorithm}`]: copied.checksum.value, ChecksumType: 'FULL_OBJECT' } : {}),
    });
  }

  /**
   * A repacked source whose ETag and checksum stay valid for the copy (a single-part object, and no
   * other checksum asked for) is copied by manifest: no byte is read or written.
   */
  private async copyByReference(
    call: ObjectCall,
    bucketId: string,
    source: ObjectVersionEntity,
    described: CopyDescription,
    algorithm: ChecksumAlgorithm | undefined,
  ): Promise<CopyOutcome | undefined> {
    if (source.state !== 'stored' || !source.packed || source.etag.includes('-')) return undefined;
    const checksum = algorithm === undefined ? undefined : source.checksums[algorithm];
    if (algorithm !== undefined && (checksum === undefined || source.checksumType !== 'FULL_OBJECT')) return undefined;
    const version = {
      ...described,
      id: randomUUID(),
      size: source.size,
      etag: source.etag,
      checksums: algorithm && checksum ? { [algorithm]: checksum } : {},
      checksumType: algorithm ? 'FULL_OBJECT' : null,
    };
    if (!(await this.objects.copyPackedNullVersion(call.caller.tenantId, bucketId, call.caller.container, version, source.id))) return undefined;
    return { etag: source.etag, checksum: algorithm && checksum ? { algorithm, value: checksum } : undefined };
  }

  /** Reads the source and ingests its bytes as a new upload. */
  private async copyBytes(
    call: ObjectCall,
    bucketId: string,
    source: ObjectVersionEntity,
    described: CopyDescription,
    algorithm: ChecksumAlgorithm | undefined,
  ): Promise<CopyOutcome> {
    const stream = await this.reader.open(call.caller.container, source, { start: 0, end: source.size - 1 });
    const copied = await this.ingest.copy(call.caller.tenantId, stream, source.size, algorithm);
    await this.committer.commit(call.caller, bucketId, {
      ...described,
      id: randomUUID(),
      size: copied.size,
      etag: copied.md5Hex,
      checksums: copied.checksum ? { [copied.checksum.algorithm]: copied.checksum.value } : {},
      checksumType: copied.checksum ? 'FULL_OBJECT' : null,
      spool: [{ path: copied.spoolPath, size: copied.size }],
    });
    return { etag: copied.md5Hex, checksum: copied.checksum };
  }
}

type CopyDescription = Pick<NewObjectVersion, 'key' | 'contentType' | 'headers' | 'userMetadata' | 'parts'>;

interface CopyOutcome {
  etag: string;
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
}
