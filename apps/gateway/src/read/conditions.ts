import { FerryError, FerryErrorCode } from '@ferry/common';

export interface Validators {
  etag: string;
  lastModified: Date;
}

const etagList = (value: string) => value.split(',').map((tag) => tag.trim().replace(/^W\//, '').replace(/^"|"$/g, ''));
const matches = (value: string, etag: string) => etagList(value).some((tag) => tag === '*' || tag === etag);
/** HTTP dates have whole seconds; compare at that precision. */
const seconds = (date: Date) => Math.floor(date.getTime() / 1000);

function parseDate(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/**
 * RFC 7232 preconditions in S3's order: If-Match (else If-Unmodified-Since) can fail with 412;
 * If-None-Match (else If-Modified-Since) answers 304 for reads. Unparseable dates are ignored.
 */
export function checkPreconditions(headers: Record<string, string | undefined>, object: Validators): void {
  const ifMatch = headers['if-match'];
  const ifNoneMatch = headers['if-none-match'];
  const ifModifiedSince = parseDate(headers['if-modified-since']);
  const ifUnmodifiedSince = parseDate(headers['if-unmodified-since']);
  const modified = seconds(object.lastModified);
  if (ifMatch !== undefined) {
    if (!matches(ifMatch, object.etag)) throw preconditionFailed('If-Match');
  } else if (ifUnmodifiedSince && modified > seconds(ifUnmodifiedSince)) {
    throw preconditionFailed('If-Unmodified-Since');
  }
  const notModified = () =>
    new FerryError(FerryErrorCode.NotModified, 'Not Modified', {
      ETag: `"${object.etag}"`,
      'Last-Modified': object.lastModified.toUTCString(),
    });
  if (ifNoneMatch !== undefined) {
    if (matches(ifNoneMatch, object.etag)) throw notModified();
  } else if (ifModifiedSince && modified <= seconds(ifModifiedSince)) {
    throw notModified();
  }
}

const preconditionFailed = (condition: string) =>
  new FerryError(FerryErrorCode.PreconditionFailed, 'At least one of the pre-conditions you specified did not hold', { Condition: condition });
