import { FerryError, FerryErrorCode } from '@ferry/common';
import { headerNames, headerValue, type HeaderBag } from '../http/headers.js';
import { buildCanonicalRequest, buildStringToSign, SIGV4_ALGORITHM } from './canonical-request.js';
import { payloadProtection, UNSIGNED_PAYLOAD } from './payload-hash.js';
import { deriveSigningKey, signaturesEqual, signHex } from './signing-key.js';
import { parseQueryString, splitRequestTarget, type QueryParam } from './uri-encoding.js';

/** What SigV4 needs of an HTTP request. `rawUrl` is the request target exactly as sent (Express: `originalUrl`). */
export interface SigV4Request {
  method: string;
  rawUrl: string;
  headers: HeaderBag;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  /** Credential scope date, `yyyymmdd`. */
  date: string;
  region: string;
  service: string;
  /** Request time, `yyyymmddThhmmssZ`. */
  amzDate: string;
  signedHeaders: string[];
  /** Lowercase hex. */
  signature: string;
  /** The last line of the canonical request; see payloadProtection() for what it asks of the body. */
  payloadHash: string;
  presigned: boolean;
  /** `date/region/service/aws4_request`. */
  scope: string;
  /** Presigned only: when the URL stops being valid. */
  expiresAt?: Date;
}

/** What aws-chunked chunk signatures are verified with. */
export interface SigningContext {
  signingKey: Buffer;
  scope: string;
  amzDate: string;
  seedSignature: string;
}

const MAX_SKEW_MS = 15 * 60 * 1000;
const MAX_PRESIGNED_EXPIRES_S = 604_800;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const SCOPE_TERMINATOR = 'aws4_request';
const UNSUPPORTED_MECHANISM =
  'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.';

/**
 * Finds and checks the SigV4 credentials of a request, header or presigned, without the secret:
 * the caller looks up `accessKeyId`, then calls verifySignature(). Time checks use `now`.
 */
export function parseAuthorization(req: SigV4Request, now: Date): ParsedAuthorization {
  const query = parseQueryString(splitRequestTarget(req.rawUrl).rawQuery);
  const authorization = headerValue(req.headers, 'authorization');
  const queryAuth = query.some((p) => p.name === 'X-Amz-Algorithm' || p.name === 'X-Amz-Signature');

  if (authorization !== undefined && queryAuth) {
    throw new FerryError(
      FerryErrorCode.InvalidArgument,
      'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header ' +
        'should be specified',
    );
  }
  if (authorization !== undefined) return parseHeaderAuth(req, authorization, now);
  if (queryAuth) return parsePresigned(req, query, now);
  if (query.some((p) => p.name === 'AWSAccessKeyId' || p.name === 'Signature')) {
    throw unsupported();
  }
  throw new FerryError(FerryErrorCode.AccessDenied, 'Access Denied: the request is not signed.');
}

/**
 * Rebuilds the canonical request and compares signatures in constant time. On a mismatch the
 * error's details carry the canonical request and string to sign, as S3's error document does,
 * so client authors can see what the server signed.
 */
export function verifySignature(
  parsed: ParsedAuthorization,
  secretAccessKey: string,
  req: SigV4Request,
): SigningContext {
  const canonicalRequest = buildCanonicalRequest({
    method: req.method,
    rawUrl: req.rawUrl,
    headers: req.headers,
    signedHeaders: parsed.signedHeaders,
    payloadHash: parsed.payloadHash,
  });
  const stringToSign = buildStringToSign(parsed.amzDate, parsed.scope, canonicalRequest);
  const signingKey = deriveSigningKey(secretAccessKey, parsed.date, parsed.region, parsed.service);
  if (!signaturesEqual(signHex(signingKey, stringToSign), parsed.signature)) {
    throw new FerryError(
      FerryErrorCode.SignatureDoesNotMatch,
      'The request signature we calculated does not match the signature you provided. ' +
        'Check your key and signing method.',
      { AWSAccessKeyId: parsed.accessKeyId, StringToSign: stringToSign, CanonicalRequest: canonicalRequest },
    );
  }
  return { signingKey, scope: parsed.scope, amzDate: parsed.amzDate, seedSignature: parsed.signature };
}

function parseHeaderAuth(req: SigV4Request, authorization: string, now: Date): ParsedAuthorization {
  const space = authorization.indexOf(' ');
  const algorithm = space === -1 ? authorization : authorization.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) throw unsupported();

  const fields = new Map<string, string>();
  for (const part of authorization.slice(space + 1).split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq <= 0) throw malformed(`Authorization header component "${item}" is not of the form key=value.`);
    const key = item.slice(0, eq);
    if (fields.has(key)) throw malformed(`Authorization header repeats ${key}.`);
    fields.set(key, item.slice(eq + 1));
  }
  const credential = requiredField(fields, 'Credential');
  const signedHeaders = requiredField(fields, 'SignedHeaders');
  const signature = requiredField(fields, 'Signature');
  if (fields.size !== 3) throw malformed('Authorization header has unexpected components.');

  const amzDate = requestDate(req.headers);
  const requestTime = parseAmzDate(amzDate);
  if (Math.abs(now.getTime() - requestTime.getTime()) > MAX_SKEW_MS) {
    throw new FerryError(
      FerryErrorCode.RequestTimeTooSkewed,
      'The difference between the request time and the current time is too large.',
      { RequestTime: amzDate, ServerTime: now.toISOString(), MaxAllowedSkewMilliseconds: MAX_SKEW_MS },
    );
  }

  const payloadHash = headerValue(req.headers, 'x-amz-content-sha256');
  if (payloadHash === undefined) {
    throw new FerryError(
      FerryErrorCode.InvalidRequest,
      'Missing required header for this request: x-amz-content-sha256',
    );
  }
  payloadProtection(payloadHash);
  return assemble(req, { credential, signedHeaders, signature, amzDate, payloadHash, presigned: false });
}

function parsePresigned(req: SigV4Request, query: QueryParam[], now: Date): ParsedAuthorization {
  const param = (name: string): string => {
    const matches = query.filter((p) => p.name === name);
    if (matches.length !== 1) {
      throw malformed(`Query-string authentication requires exactly one ${name} parameter.`);
    }
    return matches[0]!.value;
  };
  if (param('X-Amz-Algorithm') !== SIGV4_ALGORITHM) throw unsupported();
  const credential = param('X-Amz-Credential');
  const amzDate = param('X-Amz-Date');
  const expires = param('X-Amz-Expires');
  const signedHeaders = param('X-Amz-SignedHeaders');
  const signature = param('X-Amz-Signature');

  const requestTime = parseAmzDate(amzDate);
  if (!/^\d{1,6}$/.test(expires) || Number(expires) < 1 || Number(expires) > MAX_PRESIGNED_EXPIRES_S) {
    throw malformed('X-Amz-Expires must be a whole number of seconds from 1 to 604800 (one week).');
  }
  const expiresAt = new Date(requestTime.getTime() + Number(expires) * 1000);
  if (requestTime.getTime() - now.getTime() > MAX_SKEW_MS) {
    throw new FerryError(FerryErrorCode.AccessDenied, 'Request is not valid yet.', { RequestTime: amzDate });
  }
  if (now.getTime() > expiresAt.getTime()) {
    throw new FerryError(FerryErrorCode.RequestExpired, 'Request has expired.', {
      Expires: expiresAt.toISOString(),
      ServerTime: now.toISOString(),
    });
  }

  // S3's presigner hoists x-amz-content-sha256 into the query; a client may also send it as a header.
  const payloadHash =
    headerValue(req.headers, 'x-amz-content-sha256') ??
    query.find((p) => p.name.toLowerCase() === 'x-amz-content-sha256')?.value ??
    UNSIGNED_PAYLOAD;
  payloadProtection(payloadHash);
  const parsed = assemble(req, { credential, signedHeaders, signature, amzDate, payloadHash, presigned: true });
  return { ...parsed, expiresAt };
}

interface RawAuth {
  credential: string;
  signedHeaders: string;
  signature: string;
  amzDate: string;
  payloadHash: string;
  presigned: boolean;
}

/** The checks shared by both mechanisms: credential scope, signed-header list, signature syntax. */
function assemble(req: SigV4Request, raw: RawAuth): ParsedAuthorization {
  const parts = raw.credential.split('/');
  if (parts.length !== 5) throw malformed('Credential must be access-key-id/date/region/service/aws4_request.');
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (accessKeyId.length === 0 || region.length === 0 || !/^\d{8}$/.test(date)) {
    throw malformed('Credential must be access-key-id/date/region/service/aws4_request.');
  }
  if (service !== 's3') throw malformed(`Credential should be scoped to correct service: 's3', not '${service}'.`);
  if (terminator !== SCOPE_TERMINATOR) {
    throw malformed(`Credential should be scoped with a valid terminator: 'aws4_request'.`);
  }
  if (date !== raw.amzDate.slice(0, 8)) {
    throw malformed(`Credential date ${date} does not match the request date ${raw.amzDate.slice(0, 8)}.`);
  }

  const signedHeaders = raw.signedHeaders.split(';');
  if (signedHeaders.some((name) => !HEADER_NAME.test(name))) {
    throw malformed('SignedHeaders must be lowercase header names separated by semicolons.');
  }
  if (!signedHeaders.includes('host')) throw malformed('SignedHeaders must include host.');
  if (!SIGNATURE.test(raw.signature)) throw malformed('Signature must be 64 lowercase hexadecimal characters.');

  // Unsigned x-amz-* headers could be added by anyone on the path (an ACL, a storage class), so S3
  // refuses them. x-amz-content-sha256 is exempt: it is the canonical request's last line anyway.
  const unsigned = headerNames(req.headers).filter(
    (name) => name.startsWith('x-amz-') && name !== 'x-amz-content-sha256' && !signedHeaders.includes(name),
  );
  if (unsigned.length > 0) {
    throw new FerryError(
      FerryErrorCode.AccessDenied,
      'There were headers present in the request which were not signed',
      { HeadersNotSigned: unsigned.join(', ') },
    );
  }

  return {
    accessKeyId,
    date,
    region,
    service,
    amzDate: raw.amzDate,
    signedHeaders,
    signature: raw.signature,
    payloadHash: raw.payloadHash,
    presigned: raw.presigned,
    scope: `${date}/${region}/${service}/${SCOPE_TERMINATOR}`,
  };
}

/** `x-amz-date`, or failing that the HTTP `Date` header turned into the same basic ISO 8601 form. */
function requestDate(headers: HeaderBag): string {
  const amzDate = headerValue(headers, 'x-amz-date');
  if (amzDate !== undefined) return amzDate.trim();
  const httpDate = headerValue(headers, 'date');
  const time = httpDate === undefined ? NaN : Date.parse(httpDate);
  if (Number.isNaN(time)) {
    throw new FerryError(FerryErrorCode.AccessDenied, 'AWS authentication requires a valid Date or x-amz-date header');
  }
  return toAmzDate(new Date(time));
}

function parseAmzDate(amzDate: string): Date {
  const m = AMZ_DATE.exec(amzDate);
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
    const time = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
    // Round-tripping rejects 20130231 and 25:00, which Date.UTC would silently roll over.
    if (toAmzDate(time) === amzDate) return time;
  }
  throw malformed(`X-Amz-Date "${amzDate}" must be in the ISO 8601 basic format yyyyMMddTHHmmssZ.`);
}

function requiredField(fields: Map<string, string>, key: string): string {
  const value = fields.get(key);
  if (value === undefined || value.length === 0) throw malformed(`Authorization header is missing ${key}.`);
  return value;
}

function toAmzDate(time: Date): string {
  return time.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function unsupported(): FerryError {
  return new FerryError(FerryErrorCode.InvalidRequest, UNSUPPORTED_MECHANISM);
}

function malformed(message: string): FerryError {
  return new FerryError(FerryErrorCode.AuthorizationMalformed, message);
}
