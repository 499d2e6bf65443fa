import { Inject, Injectable, type NestMiddleware } from '@nestjs/common';
import type { Request, Response } from 'express';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { BucketOperations } from '../operations/bucket.operations.js';
import { CopyObjectOperation } from '../operations/copy-object.operation.js';
import { MultipartOperations } from '../operations/multipart.operations.js';
import { DeleteObjectsOperation } from '../operations/delete-objects.operation.js';
import { ListOperations } from '../operations/list.operations.js';
import { ObjectOperations } from '../operations/object.operations.js';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';
import { resolveAddress } from './addressing.js';
import { Authenticator } from './authenticator.js';
import { newRequestId, sendError } from './responder.js';
import type { BucketCall, ObjectCall, S3Call } from './s3-call.js';
import { resolveOperation, S3Operation, WRITE_OPERATIONS } from './s3.router.js';

/** S3 allows 8 KiB of request headers; Node's parser is set higher so we can answer in XML. */
const MAX_HEADER_BYTES = 16 * 1024;

type Handlers = { [op in S3Operation]: (call: S3Call) => Promise<void> };

/**
 * The S3 front door: every request that is not /healthz arrives here with its body untouched (no
 * body parser runs on this app), is authenticated, routed to one operation and answered; any
 * failure becomes an S3 XML error.
 */
@Injectable()
export class S3Dispatcher implements NestMiddleware {
  private readonly handlers: Handlers;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly authenticator: Authenticator,
    buckets: BucketOperations,
    lists: ListOperations,
    objects: ObjectOperations,
    deletes: DeleteObjectsOperation,
    copies: CopyObjectOperation,
    multipart: MultipartOperations,
  ) {
    const bucket = (fn: (call: BucketCall) => Promise<void>) => (call: S3Call) => fn(call as BucketCall);
    const object = (fn: (call: ObjectCall) => Promise<void>) => (call: S3Call) => fn(call as ObjectCall);
    this.handlers = {
      [S3Operation.ListBuckets]: (call) => buckets.listBuckets(call),
      [S3Operation.CreateBucket]: bucket((call) => buckets.createBucket(call)),
      [S3Operation.HeadBucket]: bucket((call) => buckets.headBucket(call)),
      [S3Operation.DeleteBucket]: bucket((call) => buckets.deleteBucket(call)),
      [S3Operation.GetBucketLocation]: bucket((call) => buckets.getBucketLocation(call)),
      [S3Operation.GetBucketVersioning]: bucket((call) => buckets.getBucketVersioning(call)),
      [S3Operation.ListObjects]: bucket((call) => lists.listV1(call)),
      [S3Operation.ListObjectsV2]: bucket((call) => lists.listV2(call)),
      [S3Operation.ListObjectVersions]: bucket((call) => lists.listVersions(call)),
      [S3Operation.DeleteObjects]: bucket((call) => deletes.deleteObjects(call)),
      [S3Operation.PutObject]: object((call) => objects.putObject(call)),
      [S3Operation.GetObject]: object((call) => objects.getObject(call)),
      [S3Operation.HeadObject]: object((call) => objects.headObject(call)),
      [S3Operation.DeleteObject]: object((call) => objects.deleteObject(call)),
      [S3Operation.CopyObject]: object((call) => copies.copyObject(call)),
      [S3Operation.ListMultipartUploads]: bucket((call) => multipart.listUploads(call)),
      [S3Operation.CreateMultipartUpload]: object((call) => multipart.create(call)),
      [S3Operation.UploadPart]: object((call) => multipart.uploadPart(call)),
      [S3Operation.UploadPartCopy]: object((call) => multipart.uploadPartCopy(call)),
      [S3Operation.CompleteMultipartUpload]: object((call) => multipart.complete(call)),
      [S3Operation.AbortMultipartUpload]: object((call) => multipart.abort(call)),
      [S3Operation.ListParts]: object((call) => multipart.listParts(call)),
    };
  }

  async use(req: Request, res: Response): Promise<void> {
    const requestId = newRequestId();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', requestId);
    res.setHeader('Server', 'Ferry');
    const rawUrl = req.originalUrl;
    const queryAt = rawUrl.indexOf('?');
    const rawPath = queryAt === -1 ? rawUrl : rawUrl.slice(0, queryAt);
    let resource = rawPath;
    try {
      if (headerBytes(req) > MAX_HEADER_BYTES) {
        throw new FerryError(FerryErrorCode.HeadersTooLarge, `Your request header section exceeds the maximum allowed size (${MAX_HEADER_BYTES} bytes).`);
      }
      const address = resolveAddress(rawPath, req.headers.host, this.config.s3Domains);
      resource = address.bucket ? `/${address.bucket}${address.key ? `/${address.key}` : ''}` : '/';
      const query = new URLSearchParams(queryAt === -1 ? '' : rawUrl.slice(queryAt + 1));
      const caller = await this.authenticator.authenticate({ method: req.method, rawUrl, headers: req.headers }, address.bucket);
      const operation = resolveOperation(req.method, address, query, req.headers['x-amz-copy-source'] !== undefined);
      if (caller.tenantStatus === 'suspended' && WRITE_OPERATIONS.has(operation)) {
        throw new FerryError(FerryErrorCode.TenantSuspended, 'This account is suspended: writes are refused. Contact your service provider.');
      }
      const call: S3Call = { requestId, method: req.method, rawUrl, rawPath, query, headers: req.headers, address, req, res, caller };
      Object.assign(call, { bucket: address.bucket, key: address.key });
      await this.handlers[operation](call);
    } catch (error) {
      // an unread body would otherwise keep the client uploading into a closed request
      if (!req.readableEnded) res.setHeader('Connection', 'close');
      sendError(res, error, { requestId, resource, method: req.method, logger: this.logger });
    }
  }
}

function headerBytes(req: Request): number {
  let total = 0;
  for (const part of req.rawHeaders) total += part.length + 2;
  return total;
}
