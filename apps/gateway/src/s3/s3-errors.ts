import { FerryErrorCode, unreachable } from '@ferry/common';

export interface S3ErrorShape {
  code: string;
  status: number;
}

/** The S3 error code and HTTP status for each domain code (exhaustive: a new code fails the build). */
export function s3Error(code: FerryErrorCode): S3ErrorShape {
  switch (code) {
    case FerryErrorCode.AccessDenied:
    case FerryErrorCode.TenantSuspended:
    case FerryErrorCode.RequestExpired:
    case FerryErrorCode.Unauthenticated:
      return { code: 'AccessDenied', status: 403 };
    case FerryErrorCode.InvalidAccessKeyId:
    case FerryErrorCode.AccessKeyNotFound:
      return { code: 'InvalidAccessKeyId', status: 403 };
    case FerryErrorCode.SignatureDoesNotMatch:
      return { code: 'SignatureDoesNotMatch', status: 403 };
    case FerryErrorCode.RequestTimeTooSkewed:
      return { code: 'RequestTimeTooSkewed', status: 403 };
    case FerryErrorCode.AuthorizationMalformed:
      return { code: 'AuthorizationHeaderMalformed', status: 400 };
    case FerryErrorCode.QuotaExceeded:
      return { code: 'QuotaExceeded', status: 403 };
    case FerryErrorCode.NoSuchBucket:
      return { code: 'NoSuchBucket', status: 404 };
    case FerryErrorCode.BucketAlreadyOwnedByYou:
      return { code: 'BucketAlreadyOwnedByYou', status: 409 };
    case FerryErrorCode.BucketNotEmpty:
      return { code: 'BucketNotEmpty', status: 409 };
    case FerryErrorCode.InvalidBucketName:
      return { code: 'InvalidBucketName', status: 400 };
    case FerryErrorCode.TooManyBuckets:
      return { code: 'TooManyBuckets', status: 400 };
    case FerryErrorCode.NoSuchKey:
      return { code: 'NoSuchKey', status: 404 };
    case FerryErrorCode.NoSuchVersion:
      return { code: 'NoSuchVersion', status: 404 };
    case FerryErrorCode.KeyTooLong:
      return { code: 'KeyTooLongError', status: 400 };
    case FerryErrorCode.BadDigest:
      return { code: 'BadDigest', status: 400 };
    case FerryErrorCode.InvalidDigest:
      return { code: 'InvalidDigest', status: 400 };
    case FerryErrorCode.ContentSha256Mismatch:
      return { code: 'XAmzContentSHA256Mismatch', status: 400 };
    case FerryErrorCode.IncompleteBody:
      return { code: 'IncompleteBody', status: 400 };
    case FerryErrorCode.BodyTooLong:
    case FerryErrorCode.InvalidRequest:
      return { code: 'InvalidRequest', status: 400 };
    case FerryErrorCode.MissingContentLength:
      return { code: 'MissingContentLength', status: 411 };
    case FerryErrorCode.EntityTooLarge:
      return { code: 'EntityTooLarge', status: 400 };
    case FerryErrorCode.EntityTooSmall:
      return { code: 'EntityTooSmall', status: 400 };
    case FerryErrorCode.InvalidRange:
      return { code: 'InvalidRange', status: 416 };
    case FerryErrorCode.PreconditionFailed:
      return { code: 'PreconditionFailed', status: 412 };
    case FerryErrorCode.NotModified:
      return { code: 'NotModified', status: 304 };
    case FerryErrorCode.NoSuchUpload:
      return { code: 'NoSuchUpload', status: 404 };
    case FerryErrorCode.InvalidPart:
      return { code: 'InvalidPart', status: 400 };
    case FerryErrorCode.InvalidPartOrder:
      return { code: 'InvalidPartOrder', status: 400 };
    case FerryErrorCode.InvalidArgument:
    case FerryErrorCode.ValidationFailed:
      return { code: 'InvalidArgument', status: 400 };
    case FerryErrorCode.MalformedXML:
      return { code: 'MalformedXML', status: 400 };
    case FerryErrorCode.HeadersTooLarge:
      return { code: 'RequestHeaderSectionTooLarge', status: 400 };
    case FerryErrorCode.MetadataTooLarge:
      return { code: 'MetadataTooLarge', status: 400 };
    case FerryErrorCode.RequestTimeout:
      return { code: 'RequestTimeout', status: 400 };
    case FerryErrorCode.MethodNotAllowed:
      return { code: 'MethodNotAllowed', status: 405 };
    case FerryErrorCode.NotImplemented:
      return { code: 'NotImplemented', status: 501 };
    case FerryErrorCode.ServiceUnavailable:
      return { code: 'SlowDown', status: 503 };
    case FerryErrorCode.TenantNotFound:
    case FerryErrorCode.TenantExists:
    case FerryErrorCode.TenantHasData:
    case FerryErrorCode.VerifyRunNotFound:
    case FerryErrorCode.PlanNotFound:
    case FerryErrorCode.PlanExists:
    case FerryErrorCode.PlanInUse:
    case FerryErrorCode.InvoiceNotFound:
    case FerryErrorCode.BillingPeriodOpen:
    case FerryErrorCode.CreditExceedsInvoice:
      // operator-API conditions; the gateway never raises them on its own
      return { code: 'InternalError', status: 500 };
    default:
      return unreachable(code);
  }
}
