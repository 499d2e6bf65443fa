import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { BucketsRepository, NULL_VERSION, ObjectsRepository, type ObjectVersionEntity } from '@ferry/catalog';
import { checksumHeaderName, validateObjectKey, type ChecksumAlgorithm } from '@ferry/s3';
import { declaredBodyLength, IngestService } from '../ingest/ingest.service.js';
import { QuotaReservations } from '../quota/reservations.js';
import { UsageMeter } from '../metering/usage.meter.js';
import { TenantThrottle } from '../throttle/tenant-throttle.js';
import { ObjectCommitter } from '../ingest/object-committer.js';
import { checkPreconditions } from '../read/conditions.js';
import { sendBody } from '../read/body.sender.js';
import { ObjectReader } from '../read/object-reader.js';
import { parseRange } from '../read/range.js';
import { header, requestBucket, type ObjectCall } from '../s3/s3-call.js';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';
import { storedHeadersOf, userMetadataOf, writeObjectHeaders } from './object-headers.js';

/** PutObject, GetObject, HeadObject and DeleteObject on unversioned buckets. */
@Injectable()
export class ObjectOperations {
  constructor(
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly buckets: BucketsRepository,
    private readonly objects: ObjectsRepository,
    private readonly ingest: IngestService,
    private readonly reader: ObjectReader,
    private readonly committer: ObjectCommitter,
    private readonly quota: QuotaReservations,
    private readonly meter: UsageMeter,
    private readonly throttle: TenantThrottle,
  ) {}

  /**
   * Spool (fsync'd), then commit the row, then answer: a 200 means the bytes are durable and
   * catalogued. Forwarding to Blob is enqueued afterwards; if that enqueue is lost, the reconciler
   * finds the staged row.
   */
  async putObject(call: ObjectCall): Promise<void> {
    validateObjectKey(call.key);
    const bucket = await requestBucket(call, this.buckets);
    const userMetadata = userMetadataOf(call);
    const headers = storedHeadersOf(call);
    const body = await this.quota.within(call.caller.tenantId, declaredBodyLength(call) ?? 0, async (reservation) => {
      const ingested = await this.ingest.ingest(call, { reservation });
      await this.committer.commit(call.caller, bucket.id, {
        id: randomUUID(),
        key: call.key,
        size: ingested.size,
        etag: ingested.md5Hex,
        contentType: header(call, 'content-type') ?? null,
        headers,
        userMetadata,
        checksums: ingested.checksum ? { [ingested.checksum.algorithm]: ingested.checksum.value } : {},
        checksumType: ingested.checksum ? 'FULL_OBJECT' : null,
        parts: null,
        spool: [{ path: ingested.spoolPath, size: ingested.size }],
      });
      return ingested;
    });
    call.res.setHeader('ETag', `"${body.md5Hex}"`);
    if (body.checksum) {
      call.res.setHeader(checksumHeaderName(body.checksum.algorithm), body.checksum.value);
      call.res.setHeader('x-amz-checksum-type', 'FULL_OBJECT');
    }
    call.res.writeHead(200).end();
  }

  async getObject(call: ObjectCall): Promise<void> {
    await this.read(call, true);
  }

  async headObject(call: ObjectCall): Promise<void> {
    await this.read(call, false);
  }

  async deleteObject(call: ObjectCall): Promise<void> {
    validateObjectKey(call.key);
    const bucket = await requestBucket(call, this.buckets);
    await this.objects.deleteVersion(call.caller.tenantId, bucket.id, call.caller.container, call.key, versionOf(call));
    call.res.writeHead(204).end();
  }

  private async read(call: ObjectCall, withBody: boolean): Promise<void> {
    validateObjectKey(call.key);
    const bucket = await requestBucket(call, this.buckets);
    const object = await this.find(call, bucket.id);
    const res = call.res;
    checkPreconditions(call.headers as Record<string, string | undefined>, { etag: object.etag, lastModified: object.createdAt });
    let range = parseRange(header(call, 'range'), object.size);
    const partNumber = call.query.get('partNumber');
    if (partNumber !== null) range = partRange(object, partNumber, res);
    writeObjectHeaders(res, object, call);
    const whole = range === undefined;
    const served = range ?? { start: 0, end: object.size - 1 };
    if (whole && header(call, 'x-amz-checksum-mode')?.toUpperCase() === 'ENABLED') {
      for (const [algorithm, value] of Object.entries(object.checksums)) {
        res.setHeader(checksumHeaderName(algorithm as ChecksumAlgorithm), value);
      }
      if (object.checksumType) res.setHeader('x-amz-checksum-type', object.checksumType);
    }
    res.setHeader('Content-Length', String(Math.max(0, served.end - served.start + 1)));
    if (!whole) res.setHeader('Content-Range', `bytes ${served.start}-${served.end}/${object.size}`);
    res.statusCode = whole ? 200 : 206;
    if (!withBody) {
      res.end();
      return;
    }
    const stream = await this.reader.open(call.caller.container, object, served);
    // egress is what actually left, whether or not the client stayed for all of it
    let sent = 0;
    stream.on('data', (chunk: Buffer) => (sent += chunk.length));
    const paced = this.throttle.pace(call.caller.tenantId);
    try {
      await sendBody(stream, paced, res);
    } catch (error) {
      // the client went away, or the source failed mid-body: the connection is cut either way
      this.logger.debug({ err: error, requestId: call.requestId }, 'object read ended early');
      res.destroy();
    } finally {
      this.meter.egress(call.caller.tenantId, sent);
    }
  }

  private async find(call: ObjectCall, bucketId: string): Promise<ObjectVersionEntity> {
    const versionId = versionOf(call);
    // read with the access key when the request named it (one round trip less per GET and HEAD)
    const read = call.caller.object;
    const object =
      read && read.key === call.key && read.versionId === versionId && (read.version === null || read.version.bucketId === bucketId)
        ? (read.version ?? undefined)
        : await this.objects.getVersion(call.caller.tenantId, bucketId, call.key, versionId);
    if (!object || object.isDeleteMarker) {
      throw new FerryError(FerryErrorCode.NoSuchKey, 'The specified key does not exist.', { Key: call.key });
    }
    return object;
  }
}

/** Unversioned buckets hold only the `null` version; any other id names nothing. */
function versionOf(call: ObjectCall): string {
  const versionId = call.query.get('versionId');
  if (versionId === null || versionId === NULL_VERSION) return NULL_VERSION;
  throw new FerryError(FerryErrorCode.InvalidArgument, 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: versionId });
}

/** `?partNumber=N`: the byte range of part N of a multipart object (part 1 is all of a plain one). */
function partRange(object: ObjectVersionEntity, raw: string, res: ObjectCall['res']) {
  const number = Number(raw);
  const parts = object.parts ?? [{ size: object.size, etag: object.etag }];
  if (!/^\d+$/.test(raw) || number < 1 || number > 10_000) {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'Part number must be an integer between 1 and 10000, inclusive');
  }
  if (number > parts.length) throw new FerryError(FerryErrorCode.InvalidRange, 'The requested partnumber is not satisfiable');
  if (object.parts) res.setHeader('x-amz-mp-parts-count', String(parts.length));
  const start = parts.slice(0, number - 1).reduce((sum, part) => sum + part.size, 0);
  return { start, end: start + parts[number - 1].size - 1 };
}
