import type { ServerResponse } from 'node:http';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { ObjectVersionEntity, StoredHeaders } from '@ferry/catalog';
import { header, type S3Call } from '../s3/s3-call.js';

const USER_METADATA_LIMIT = 2048;

/** x-amz-meta-* as sent (names lowercased, as HTTP delivers them); at most 2 KiB, as in S3. */
export function userMetadataOf(call: S3Call): Record<string, string> {
  const metadata: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of Object.entries(call.headers)) {
    if (!name.startsWith('x-amz-meta-') || value === undefined) continue;
    const text = Array.isArray(value) ? value.join(',') : value;
    const key = name.slice('x-amz-meta-'.length);
    metadata[key] = text;
    bytes += Buffer.byteLength(key) + Buffer.byteLength(text);
  }
  if (bytes > USER_METADATA_LIMIT) {
    throw new FerryError(FerryErrorCode.MetadataTooLarge, `Your metadata headers exceed the maximum allowed metadata size (${USER_METADATA_LIMIT} bytes).`);
  }
  return metadata;
}

/** Standard headers kept with an object. `aws-chunked` is transfer framing, never part of the stored encoding. */
export function storedHeadersOf(call: S3Call): StoredHeaders {
  const encoding = header(call, 'content-encoding')
    ?.split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '' && part.toLowerCase() !== 'aws-chunked')
    .join(', ');
  const stored: StoredHeaders = {
    contentEncoding: encoding || undefined,
    contentDisposition: header(call, 'content-disposition'),
    contentLanguage: header(call, 'content-language'),
    cacheControl: header(call, 'cache-control'),
    expires: header(call, 'expires'),
  };
  return Object.fromEntries(Object.entries(stored).filter(([, value]) => value !== undefined)) as StoredHeaders;
}

const OVERRIDES: [query: string, header: string][] = [
  ['response-content-type', 'Content-Type'],
  ['response-content-language', 'Content-Language'],
  ['response-expires', 'Expires'],
  ['response-cache-control', 'Cache-Control'],
  ['response-content-disposition', 'Content-Disposition'],
  ['response-content-encoding', 'Content-Encoding'],
];

/** The headers of GET and HEAD: validators, stored headers, metadata, then any response-* overrides. */
export function writeObjectHeaders(res: ServerResponse, object: ObjectVersionEntity, call: S3Call): void {
  res.setHeader('ETag', `"${object.etag}"`);
  res.setHeader('Last-Modified', object.createdAt.toUTCString());
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Content-Type', object.contentType ?? 'binary/octet-stream');
  const stored = object.headers;
  if (stored.contentEncoding) res.setHeader('Content-Encoding', stored.contentEncoding);
  if (stored.contentDisposition) res.setHeader('Content-Disposition', stored.contentDisposition);
  if (stored.contentLanguage) res.setHeader('Content-Language', stored.contentLanguage);
  if (stored.cacheControl) res.setHeader('Cache-Control', stored.cacheControl);
  if (stored.expires) res.setHeader('Expires', stored.expires);
  for (const [name, value] of Object.entries(object.userMetadata)) res.setHeader(`x-amz-meta-${name}`, value);
  for (const [query, name] of OVERRIDES) {
    const value = call.query.get(query);
    if (value !== null) res.setHeader(name, value);
  }
}
