import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { BucketsRepository, ObjectsRepository, UploadsRepository, type MultipartUploadEntity, type ObjectVersionEntity } from '@ferry/catalog';
import { checksumHeaderName, readRequestedChecksum, validateObjectKey, type ChecksumAlgorithm } from '@ferry/s3';
import { Spool } from '@ferry/storage';
import { declaredBodyLength, IngestService, type Ingested } from '../ingest/ingest.service.js';
import { QuotaReservations } from '../quota/reservations.js';
import { ObjectCommitter } from '../ingest/object-committer.js';
import { readVerifiedSmallBody } from '../ingest/small-body.js';
import { ObjectReader } from '../read/object-reader.js';
import { PackedReader } from '../read/packed-reader.js';
import { parseRange, type ByteRange } from '../read/range.js';
import { header, requestBucket, type BucketCall, type ObjectCall } from '../s3/s3-call.js';
import { sendXml } from '../s3/responder.js';
import { resolveCopySource } from './copy-source.js';
import {
  choosePart,
  compositeChecksum,
  fullObjectChecksum,
  multipartEtag,
  parseCompleteRequest,
  uploadChecksum,
  verifyClaimedChecksum,
} from './multipart-complete.js';
import { storedHeadersOf, userMetadataOf } from './object-headers.js';
import { listUploadPage } from './upload-listing.js';

const MAX_LIST = 1000;

function partNumberOf(call: ObjectCall): number {
  const raw = call.query.get('partNumber') ?? '';
  const number = Number(raw);
  if (!/^\d+$/.test(raw) || number < 1 || number > 10_000) {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'Part number must be an integer between 1 and 10000, inclusive', {
      ArgumentName: 'partNumber',
      ArgumentValue: raw,
    });
  }
  return number;
}

function limitOf(call: BucketCall, name: string): number {
  const raw = call.query.get(name);
  if (raw === null) return MAX_LIST;
  if (!/^\d+$/.test(raw)) throw new FerryError(FerryErrorCode.InvalidArgument, `${name} must be a non-negative integer`);
  return Math.min(Number(raw), MAX_LIST);
}

const owner = (call: BucketCall) => ({ ID: call.caller.tenantId, DisplayName: call.caller.tenantId });

/**
 * Multipart uploads. Each part is spooled and fsync'd like a PutObject body; completing an upload
 * makes the chosen part files the object's spool segments in one transaction, so no byte is copied
 * and the object is acknowledged only once it is catalogued.
 */
@Injectable()
export class MultipartOperations {
  constructor(
    private readonly buckets: BucketsRepository,
    private readonly objects: ObjectsRepository,
    private readonly uploads: UploadsRepository,
    private readonly ingest: IngestService,
    private readonly reader: ObjectReader,
    private readonly committer: ObjectCommitter,
    private readonly spool: Spool,
    private readonly packed: PackedReader,
    private readonly quota: QuotaReservations,
  ) {}

  async create(call: ObjectCall): Promise<void> {
    validateObjectKey(call.key);
    const bucket = await requestBucket(call, this.buckets);
    const { algorithm, type } = uploadChecksum(call);
    const uploadId = await this.uploads.create(call.caller.tenantId, bucket.id, {
      key: call.key,
      contentType: header(call, 'content-type') ?? null,
      headers: storedHeadersOf(call),
      userMetadata: userMetadataOf(call),
      checksumAlgorithm: algorithm,
      checksumType: type,
    });
    if (algorithm && type) {
      call.res.setHeader('x-amz-checksum-algorithm', algorithm);
      call.res.setHeader('x-amz-checksum-type', type);
    }
    sendXml(call.res, 200, 'InitiateMultipartUploadResult', { Bucket: call.bucket, Key: call.key, UploadId: uploadId });
  }

  async uploadPart(call: ObjectCall): Promise<void> {
    const { upload, partNumber } = await this.target(call);
    const alsoCompute = (upload.checksumAlgorithm as ChecksumAlgorithm | null) ?? undefined;
    // a part counts against the quota from the moment it is stored until the upload ends
    const body = await this.quota.within(call.caller.tenantId, declaredBodyLength(call) ?? 0, async (reservation) => {
      const ingested = await this.ingest.ingest(call, { alsoCompute, reservation });
      await this.record(call, upload, partNumber, ingested);
      return ingested;
    });
    call.res.setHeader('ETag', `"${body.md5Hex}"`);
    if (body.checksum) call.res.setHeader(checksumHeaderName(body.checksum.algorithm), body.checksum.value);
    call.res.writeHead(200).end();
  }

  async uploadPartCopy(call: ObjectCall): Promise<void> {
    const { upload, partNumber } = await this.target(call);
    const source = await resolveCopySource(call, this.buckets, this.objects);
    const rangeHeader = header(call, 'x-amz-copy-source-range');
    let range = { start: 0, end: source.size - 1 };
    if (rangeHeader !== undefined) {
      const parsed = parseRange(rangeHeader, source.size);
      if (!parsed || !/^bytes=\d+-\d+$/.test(rangeHeader.trim()) || Number(rangeHeader.split('-')[1]) >= source.size) {
        throw new FerryError(FerryErrorCode.InvalidArgument, 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy');
      }
      range = parsed;
    }
    const algorithm = (upload.checksumAlgorithm as ChecksumAlgorithm | null) ?? undefined;
    const body = await this.quota.within(
      call.caller.tenantId,
      range.end - range.start + 1,
      async () =>
        (await this.copyPartByReference(call, upload, partNumber, source, range, algorithm)) ??
        (await this.copyPartBytes(call, upload, partNumber, source, range, algorithm)),
    );
    sendXml(call.res, 200, 'CopyPartResult', {
      ETag: `"${body.md5Hex}"`,
      LastModified: new Date().toISOString(),
      ...(body.checksum ? { [`Checksum${body.checksum.algorithm}`]: body.checksum.value } : {}),
    });
  }

  async complete(call: ObjectCall): Promise<void> {
    validateObjectKey(call.key);
    const bucket = await requestBucket(call, this.buckets);
    const uploadId = call.query.get('uploadId') ?? '';
    await this.uploads.get(call.caller.tenantId, bucket.id, call.key, uploadId);
    const body = await readVerifiedSmallBody(call, 4 * 1024 * 1024, { checksumHeadersDescribeObject: true });
    const requested = parseCompleteRequest(body.toString('utf8'));
    // completing adds no bytes (the parts already count), but a tenant over its quota, say after
    // the operator lowered it, cannot turn parts into a new object
    await this.quota.within(call.caller.tenantId, 0, () => this.completeWithinQuota(call, bucket.id, uploadId, requested));
  }

  private async completeWithinQuota(call: ObjectCall, bucketId: string, uploadId: string, requested: ReturnType<typeof parseCompleteRequest>): Promise<void> {
    const bucket = { id: bucketId };
    await this.materializeCopiedParts(call, await this.uploads.get(call.caller.tenantId, bucket.id, call.key, uploadId), requested.map((part) => part.partNumber));
    const claimed = readRequestedChecksum(call.headers);
    const objectId = randomUUID();
    const version = await this.uploads.complete(call.caller.tenantId, bucket.id, call.key, uploadId, call.caller.container, objectId, (upload, parts) => {
      const chosen = choosePart(requested, parts);
      const checksums = upload.checksumType === 'FULL_OBJECT' ? fullObjectChecksum(upload, chosen) : compositeChecksum(upload, chosen);
      verifyClaimedChecksum(claimed, checksums);
      return {
        chosen,
        object: {
          id: objectId,
          size: chosen.reduce((sum, part) => sum + part.size, 0),
          etag: multipartEtag(chosen),
          contentType: upload.contentType,
          headers: upload.headers,
          userMetadata: upload.userMetadata,
          checksums: checksums ?? {},
          checksumType: checksums ? upload.checksumType : null,
          parts: chosen.map((part) => ({ size: part.size, etag: part.etag })),
        },
      };
    });
    this.committer.forward(call.caller.tenantId, objectId);
    const [algorithm, value] = Object.entries(version.checksums)[0] ?? [];
    sendXml(call.res, 200, 'CompleteMultipartUploadResult', {
      Location: `/${call.bucket}/${encodeURIComponent(call.key)}`,
      Bucket: call.bucket,
      Key: call.key,
      ETag: `"${version.etag}"`,
      ...(algorithm ? { [`Checksum${algorithm}`]: value, ChecksumType: version.checksumType } : {}),
    });
  }

  async abort(call: ObjectCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    await this.uploads.abort(call.caller.tenantId, bucket.id, call.key, call.query.get('uploadId') ?? '', call.caller.container);
    call.res.writeHead(204).end();
  }

  async listParts(call: ObjectCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    const upload = await this.uploads.get(call.caller.tenantId, bucket.id, call.key, call.query.get('uploadId') ?? '');
    const marker = Number(call.query.get('part-number-marker') ?? '0');
    if (!Number.isInteger(marker) || marker < 0) throw new FerryError(FerryErrorCode.InvalidArgument, 'part-number-marker must be a non-negative integer');
    const limit = limitOf(call, 'max-parts');
    const parts = await this.uploads.listParts(call.caller.tenantId, upload.id, marker, limit + 1);
    const truncated = parts.length > limit;
    const shown = parts.slice(0, limit);
    sendXml(call.res, 200, 'ListPartsResult', {
      Bucket: call.bucket,
      Key: call.key,
      UploadId: upload.id,
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: shown.at(-1)?.partNumber } : {}),
      MaxParts: limit,
      IsTruncated: truncated,
      Part: shown.map((part) => ({
        PartNumber: part.partNumber,
        LastModified: part.createdAt.toISOString(),
        ETag: `"${part.etag}"`,
        Size: part.size,
        ...Object.fromEntries(Object.entries(part.checksums).map(([algorithm, value]) => [`Checksum${algorithm}`, value])),
      })),
      Initiator: owner(call),
      Owner: owner(call),
      StorageClass: 'STANDARD',
      ...(upload.checksumAlgorithm ? { ChecksumAlgorithm: upload.checksumAlgorithm, ChecksumType: upload.checksumType } : {}),
    });
  }

  async listUploads(call: BucketCall): Promise<void> {
    const bucket = await requestBucket(call, this.buckets);
    const prefix = call.query.get('prefix') ?? '';
    const delimiter = call.query.get('delimiter') ?? '';
    const keyMarker = call.query.get('key-marker') ?? '';
    const uploadIdMarker = keyMarker === '' ? '' : (call.query.get('upload-id-marker') ?? '');
    const limit = limitOf(call, 'max-uploads');
    const page = await listUploadPage(this.uploads, call.caller.tenantId, bucket.id, { prefix, delimiter, keyMarker, uploadIdMarker, limit });
    sendXml(call.res, 200, 'ListMultipartUploadsResult', {
      Bucket: call.bucket,
      KeyMarker: keyMarker,
      UploadIdMarker: uploadIdMarker,
      ...(page.next ? { NextKeyMarker: page.next.keyMarker, NextUploadIdMarker: page.next.uploadIdMarker } : {}),
      ...(delimiter ? { Delimiter: delimiter } : {}),
      Prefix: prefix,
      MaxUploads: limit,
      IsTruncated: page.truncated,
      Upload: page.entries.flatMap((entry) =>
        entry.kind === 'upload'
          ? [
              {
                Key: entry.upload.key,
                UploadId: entry.upload.id,
                Initiator: owner(call),
                Owner: owner(call),
                StorageClass: 'STANDARD',
                Initiated: entry.upload.createdAt.toISOString(),
                ...(entry.upload.checksumAlgorithm ? { ChecksumAlgorithm: entry.upload.checksumAlgorithm } : {}),
              },
            ]
          : [],
      ),
      CommonPrefixes: page.entries.flatMap((entry) => (entry.kind === 'prefix' ? [{ Prefix: entry.prefix }] : [])),
    });
  }

  /** The upload a part request names, checked before any byte of the body is read. */
  private async target(call: ObjectCall): Promise<{ upload: MultipartUploadEntity; partNumber: number }> {
    validateObjectKey(call.key);
    const partNumber = partNumberOf(call);
    const bucket = await requestBucket(call, this.buckets);
    const upload = await this.uploads.get(call.caller.tenantId, bucket.id, call.key, call.query.get('uploadId') ?? '');
    return { upload, partNumber };
  }

  /**
   * A repacked source's range becomes a part by reference: its chunks are recorded for the part, not
   * copied. The bytes are still read once, for the part's ETag (and checksum), which S3 defines on them.
   */
  private async copyPartByReference(
    call: ObjectCall,
    upload: MultipartUploadEntity,
    partNumber: number,
    source: ObjectVersionEntity,
    range: ByteRange,
    algorithm: ChecksumAlgorithm | undefined,
  ): Promise<Omit<Ingested, 'spoolPath'> | undefined> {
    const size = range.end - range.start + 1;
    if (source.state !== 'stored' || !source.packed || size <= 0) return undefined;
    const digest = await this.ingest.digestOnly(await this.reader.open(call.caller.container, source, range), size, algorithm);
    const part = { partNumber, size, etag: digest.md5Hex, checksums: digest.checksums };
    const recorded = await this.uploads.putCopiedPart(call.caller.tenantId, upload.bucketId, upload.key, upload.id, call.caller.container, part, source.id, range);
    return recorded ? digest : undefined;
  }

  private async copyPartBytes(
    call: ObjectCall,
    upload: MultipartUploadEntity,
    partNumber: number,
    source: ObjectVersionEntity,
    range: ByteRange,
    algorithm: ChecksumAlgorithm | undefined,
  ): Promise<Ingested> {
    const stream = await this.reader.open(call.caller.container, source, range);
    const body = await this.ingest.copy(call.caller.tenantId, stream, Math.max(0, range.end - range.start + 1), algorithm);
    await this.record(call, upload, partNumber, body);
    return body;
  }

  /**
   * An upload that mixes copied and uploaded parts becomes one object in the spool: its copied parts
   * are read into spool files first (their ETags and checksums stay), then it completes as usual.
   */
  private async materializeCopiedParts(call: ObjectCall, upload: MultipartUploadEntity, wanted: number[]): Promise<void> {
    const parts = (await this.uploads.listParts(call.caller.tenantId, upload.id, 0, 10_001)).filter((part) => wanted.includes(part.partNumber));
    const copied = parts.filter((part) => part.copied);
    if (copied.length === 0 || copied.length === parts.length) return;
    for (const part of copied) {
      const manifest = await this.uploads.copiedPartManifest(call.caller.tenantId, upload.id, part.partNumber);
      const stream = await this.packed.openChunks(call.caller.tenantId, call.caller.container, manifest, part.size);
      const body = await this.ingest.copy(call.caller.tenantId, stream, part.size);
      if (!(await this.uploads.materializePart(call.caller.tenantId, upload.id, part.partNumber, body.spoolPath))) await this.spool.remove(body.spoolPath);
    }
  }

  private async record(call: ObjectCall, upload: MultipartUploadEntity, partNumber: number, body: Ingested): Promise<void> {
    try {
      await this.uploads.putPart(call.caller.tenantId, upload.bucketId, upload.key, upload.id, call.caller.container, {
        partNumber,
        size: body.size,
        etag: body.md5Hex,
        checksums: body.checksums,
        spoolPath: body.spoolPath,
      });
    } catch (error) {
      await this.spool.remove(body.spoolPath);
      throw error;
    }
  }
}
