import { randomUUID } from 'node:crypto';
import { Catch, HttpException, type ArgumentsHost, type ExceptionFilter } from '@nestjs/common';
import type { Response } from 'express';
import { FerryError, FerryErrorCode, unreachable, type Logger } from '@ferry/common';

/** HTTP status of each domain code at the JSON edge. */
export function problemStatus(code: FerryErrorCode): number {
  switch (code) {
    case FerryErrorCode.Unauthenticated:
    case FerryErrorCode.InvalidAccessKeyId:
    case FerryErrorCode.SignatureDoesNotMatch:
    case FerryErrorCode.RequestTimeTooSkewed:
    case FerryErrorCode.RequestExpired:
      return 401;
    case FerryErrorCode.AccessDenied:
    case FerryErrorCode.TenantSuspended:
    case FerryErrorCode.QuotaExceeded:
      return 403;
    case FerryErrorCode.TenantNotFound:
    case FerryErrorCode.AccessKeyNotFound:
    case FerryErrorCode.VerifyRunNotFound:
    case FerryErrorCode.PlanNotFound:
    case FerryErrorCode.InvoiceNotFound:
    case FerryErrorCode.NoSuchBucket:
    case FerryErrorCode.NoSuchKey:
    case FerryErrorCode.NoSuchVersion:
    case FerryErrorCode.NoSuchUpload:
      return 404;
    case FerryErrorCode.MethodNotAllowed:
      return 405;
    case FerryErrorCode.TenantExists:
    case FerryErrorCode.TenantHasData:
    case FerryErrorCode.PlanExists:
    case FerryErrorCode.PlanInUse:
    case FerryErrorCode.BillingPeriodOpen:
    case FerryErrorCode.CreditExceedsInvoice:
    case FerryErrorCode.BucketAlreadyOwnedByYou:
    case FerryErrorCode.BucketNotEmpty:
      return 409;
    case FerryErrorCode.PreconditionFailed:
      return 412;
    case FerryErrorCode.EntityTooLarge:
      return 413;
    case FerryErrorCode.InvalidRange:
      return 416;
    case FerryErrorCode.HeadersTooLarge:
      return 431;
    case FerryErrorCode.RequestTimeout:
      return 408;
    case FerryErrorCode.NotImplemented:
      return 501;
    case FerryErrorCode.ServiceUnavailable:
      return 503;
    case FerryErrorCode.NotModified:
      return 304;
    case FerryErrorCode.ValidationFailed:
    case FerryErrorCode.AuthorizationMalformed:
    case FerryErrorCode.InvalidBucketName:
    case FerryErrorCode.TooManyBuckets:
    case FerryErrorCode.KeyTooLong:
    case FerryErrorCode.BadDigest:
    case FerryErrorCode.InvalidDigest:
    case FerryErrorCode.ContentSha256Mismatch:
    case FerryErrorCode.IncompleteBody:
    case FerryErrorCode.BodyTooLong:
    case FerryErrorCode.MissingContentLength:
    case FerryErrorCode.EntityTooSmall:
    case FerryErrorCode.InvalidPart:
    case FerryErrorCode.InvalidPartOrder:
    case FerryErrorCode.InvalidArgument:
    case FerryErrorCode.InvalidRequest:
    case FerryErrorCode.MalformedXML:
    case FerryErrorCode.MetadataTooLarge:
      return 400;
    default:
      return unreachable(code);
  }
}

/**
 * Every error leaves the console as an RFC 9457 problem document. Unknown errors become a 500 with
 * an id that is also logged; no stack trace ever reaches the client.
 */
@Catch()
export class ProblemFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(error: unknown, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<Response>();
    let status = 500;
    let body: Record<string, unknown>;
    if (error instanceof FerryError) {
      status = problemStatus(error.code);
      body = { type: `urn:ferry:error:${error.code}`, title: error.code, status, detail: error.message, ...error.details };
    } else if (error instanceof HttpException) {
      status = error.getStatus();
      const title = status === 404 ? 'NotFound' : status === 400 ? 'BadRequest' : 'HttpError';
      body = { type: `urn:ferry:error:${title}`, title, status, detail: error.message };
    } else {
      const errorId = randomUUID();
      this.logger.error({ err: error, errorId }, 'unhandled error in console');
      body = { type: 'urn:ferry:error:InternalError', title: 'InternalError', status, detail: `internal error ${errorId}`, errorId };
    }
    response.status(status).type('application/problem+json').send(JSON.stringify(body));
  }
}
