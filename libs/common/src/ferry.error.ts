/**
 * Every failure the domain can name. Each edge maps every code exhaustively (the gateway to S3 XML
 * errors, the console to JSON problems, the ledger to RpcException), so adding a code here fails the
 * build until each edge has decided what it means.
 */
export enum FerryErrorCode {
  // authentication and authorisation
  AccessDenied = 'AccessDenied',
  InvalidAccessKeyId = 'InvalidAccessKeyId',
  SignatureDoesNotMatch = 'SignatureDoesNotMatch',
  RequestTimeTooSkewed = 'RequestTimeTooSkewed',
  RequestExpired = 'RequestExpired',
  AuthorizationMalformed = 'AuthorizationMalformed',
  TenantSuspended = 'TenantSuspended',
  // buckets
  NoSuchBucket = 'NoSuchBucket',
  BucketAlreadyOwnedByYou = 'BucketAlreadyOwnedByYou',
  BucketNotEmpty = 'BucketNotEmpty',
  InvalidBucketName = 'InvalidBucketName',
  TooManyBuckets = 'TooManyBuckets',
  // objects and bodies
  NoSuchKey = 'NoSuchKey',
  NoSuchVersion = 'NoSuchVersion',
  KeyTooLong = 'KeyTooLong',
  BadDigest = 'BadDigest',
  InvalidDigest = 'InvalidDigest',
  ContentSha256Mismatch = 'ContentSha256Mismatch',
  IncompleteBody = 'IncompleteBody',
  BodyTooLong = 'BodyTooLong',
  MissingContentLength = 'MissingContentLength',
  EntityTooLarge = 'EntityTooLarge',
  EntityTooSmall = 'EntityTooSmall',
  InvalidRange = 'InvalidRange',
  PreconditionFailed = 'PreconditionFailed',
  NotModified = 'NotModified',
  // multipart
  NoSuchUpload = 'NoSuchUpload',
  InvalidPart = 'InvalidPart',
  InvalidPartOrder = 'InvalidPartOrder',
  // requests
  InvalidArgument = 'InvalidArgument',
  InvalidRequest = 'InvalidRequest',
  MalformedXML = 'MalformedXML',
  HeadersTooLarge = 'HeadersTooLarge',
  MetadataTooLarge = 'MetadataTooLarge',
  RequestTimeout = 'RequestTimeout',
  MethodNotAllowed = 'MethodNotAllowed',
  NotImplemented = 'NotImplemented',
  QuotaExceeded = 'QuotaExceeded',
  ServiceUnavailable = 'ServiceUnavailable',
  // operator API
  Unauthenticated = 'Unauthenticated',
  TenantNotFound = 'TenantNotFound',
  TenantExists = 'TenantExists',
  TenantHasData = 'TenantHasData',
  AccessKeyNotFound = 'AccessKeyNotFound',
  VerifyRunNotFound = 'VerifyRunNotFound',
  // billing
  PlanNotFound = 'PlanNotFound',
  PlanExists = 'PlanExists',
  PlanInUse = 'PlanInUse',
  InvoiceNotFound = 'InvoiceNotFound',
  BillingPeriodOpen = 'BillingPeriodOpen',
  CreditExceedsInvoice = 'CreditExceedsInvoice',
  ValidationFailed = 'ValidationFailed',
}

export class FerryError extends Error {
  constructor(
    readonly code: FerryErrorCode,
    message: string,
    readonly details: Record<string, string | number | undefined> = {},
  ) {
    super(message);
    this.name = 'FerryError';
  }
}

export const isFerryError = (error: unknown): error is FerryError => error instanceof FerryError;

/** Compile-time exhaustiveness for switches over an enum. */
export function unreachable(value: never): never {
  throw new Error(`unhandled case: ${String(value)}`);
}
