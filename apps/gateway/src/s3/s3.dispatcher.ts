import type { IncomingMessage, ServerResponse } from 'node:http';
import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { NULL_VERSION } from '@ferry/catalog';
import { BucketOperations } from '../operations/bucket.operations.js';
import { CopyObjectOperation } from '../operations/copy-object.operation.js';
import { MultipartOperations } from '../operations/multipart.operations.js';
import { DeleteObjectsOperation } from '../operations/delete-objects.operation.js';
import { ListOperations } from '../operations/list.operations.js';
import { ObjectOperations } from '../operations/object.operations.js';
import { SosapiOperations } from '../sosapi/sosapi.operations.js';
import { isSosapiKey } from '../sosapi/sosapi.xml.js';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';
import { resolveAddress, type Address } from './addressing.js';
import { Authenticator } from './authenticator.js';
import { newRequestId, sendError } from './responder.js';
import type { BucketCall, Caller, ObjectCall, S3Call } from './s3-call.js';
import { requestClass, resolveOperation, S3Operation, WRITE_OPERATIONS } from './s3.router.js';
import { UsageMeter } from '../metering/usage.meter.js';
import { TenantThrottle } from '../throttle/tenant-throttle.js';

/** S3 allows 8 KiB of request headers; Node's parser is set higher so we can answer in XML. */
const MAX_HEADER_BYTES = 16 * 1024;
/** How long a connection whose body we refused stays open after the error went out. */
const UNREAD_BODY_LINGER_MS = 1000;

type Handlers = { [op in S3Operation]: (call: S3Call) => Promise<void> };

/**
 * The S3 front door: every request that is not the health check arrives here straight from the
 * HTTP server (gateway.app.ts), its body untouched, is authenticated, routed to one operation and
 * answered; any failure becomes an S3 XML error.
 */
@Injectable()
export class S3Dispatcher {
  private readonly handlers: Handlers;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly authenticator: Authenticator,
    private readonly meter: UsageMeter,
    private readonly throttle: TenantThrottle,
    buckets: BucketOperations,
    lists: ListOperations,
    objects: ObjectOperations,
    deletes: DeleteObjectsOperation,
    copies: CopyObjectOperation,
    multipart: MultipartOperations,
    sosapi: SosapiOperations,
  ) {
    const bucket = (fn: (call: BucketCall) => Promise<void>) => (call: S3Call) => fn(call as BucketCall);
    // Veeam's SOSAPI files are virtual: reads are generated, anything else on those keys is refused
    const object =
      (fn: (call: ObjectCall) => Promise<void>, virtual: (call: ObjectCall) => Promise<void> = (call) => sosapi.refuse(call)) =>
      (call: S3Call) =>
        isSosapiKey((call as ObjectCall).key) ? virtual(call as ObjectCall) : fn(call as ObjectCall);
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
      [S3Operation.GetObject]: object((call) => objects.getObject(call), (call) => sosapi.getObject(call)),
      [S3Operation.HeadObject]: object((call) => objects.headObject(call), (call) => sosapi.headObject(call)),
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

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = newRequestId();
    // kept here: a request stream destroyed mid-body no longer names its socket
    const connection = req.socket;
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('x-amz-id-2', requestId);
    res.setHeader('Server', 'Ferry');
    // a server's requests always have both (only a client's own IncomingMessage lacks them)
    const method = req.method!;
    const rawUrl = req.url!;
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
      const copySource = req.headers['x-amz-copy-source'] !== undefined;
      const caller = await this.authenticator.authenticate(
        { method, rawUrl, headers: req.headers },
        address.bucket,
        objectToRead(method, address, query, copySource),
      );
      const operation = resolveOperation(method, address, query, copySource);
      // every authenticated request is metered, refused ones included, as S3 providers bill them
      this.meter.request(caller.tenantId, requestClass(operation));
      checkAccess(caller, operation);
      if (!connection.writable) {
        // Node's parser has already answered on this connection and closed it (bytes pipelined
        // after this request did not parse as HTTP), so no answer to this request can reach the
        // client: it must change nothing, or the client would hear an error for a write that happened
        this.logger.info({ requestId, tenantId: caller.tenantId, operation }, 'request dropped: its connection closed before it ran');
        return;
      }
      res.once('close', this.throttle.admit(caller.tenantId));
      const call: S3Call = { requestId, method, rawUrl, rawPath, query, headers: req.headers, address, req, res, caller };
      Object.assign(call, { bucket: address.bucket, key: address.key });
      await this.handlers[operation](call);
    } catch (error) {
      // an unread body would otherwise keep the client uploading into a closed request; a client
      // still pushing it would never finish its side of the close either, so the socket is cut a
      // moment after the answer went out (at once would risk a reset that loses the answer).
      // `complete` is already true for a request without a body (a HEAD, a GET): its connection stays.
      if (!req.complete) {
        res.setHeader('Connection', 'close');
        res.once('finish', () => setTimeout(() => connection.destroy(), UNREAD_BODY_LINGER_MS).unref());
      }
      sendError(res, error, { requestId, resource, method, logger: this.logger });
    }
  }
}

/**
 * A suspended tenant, or one whose service lease has ended, cannot write; it can still read (to
 * restore) unless the operator blocked reads too.
 */
function checkAccess(caller: Caller, operation: S3Operation): void {
  const leaseOver = caller.leaseExpiresAt !== null && caller.leaseExpiresAt.getTime() <= Date.now();
  if (caller.tenantStatus === 'active' && !leaseOver) return;
  const write = WRITE_OPERATIONS.has(operation);
  if (!write && !caller.blockReads) return;
  const why = caller.tenantStatus === 'suspended' ? 'This account is suspended' : `This account's service lease ended on ${caller.leaseExpiresAt!.toISOString()}`;
  const refused = write && !caller.blockReads ? 'writes are refused' : 'its data cannot be read or changed';
  throw new FerryError(FerryErrorCode.TenantSuspended, `${why}: ${refused}. Contact your service provider.`);
}

function headerBytes(req: IncomingMessage): number {
  let total = 0;
  for (const part of req.rawHeaders) total += part.length + 2;
  return total;
}

/**
 * The object version a GetObject or HeadObject names (the null version: versioned reads are not
 * served), so that its row comes in the access key's round trip. Anything else, and a request that
 * names no valid operation (it fails once authenticated, as before), reads no object with the key.
 */
function objectToRead(method: string, address: Address, query: URLSearchParams, copySource: boolean): { key: string; versionId: string } | undefined {
  if ((method !== 'GET' && method !== 'HEAD') || !address.key || query.has('versionId')) return undefined;
  let operation: S3Operation;
  try {
    operation = resolveOperation(method, address, query, copySource);
  } catch {
    return undefined;
  }
  return operation === S3Operation.GetObject || operation === S3Operation.HeadObject ? { key: address.key, versionId: NULL_VERSION } : undefined;
}
