import { createHash } from 'node:crypto';
import { headerValues, type HeaderBag } from '../http/headers.js';
import { awsUriEncode, percentDecodeBytes, splitRequestTarget } from './uri-encoding.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

export interface CanonicalRequestInput {
  method: string;
  rawUrl: string;
  headers: HeaderBag;
  signedHeaders: readonly string[];
  payloadHash: string;
}

/**
 * S3's canonical URI: the raw path decoded once and re-encoded byte by byte, '/' kept. Unlike other
 * services S3 neither normalises `.`/`..`/`//` segments nor double-encodes.
 */
export function canonicalUri(rawPath: string): string {
  const encoded = awsUriEncode(percentDecodeBytes(rawPath), false);
  return encoded.length === 0 ? '/' : encoded;
}

/**
 * Every parameter except X-Amz-Signature, each name and value decoded and re-encoded ('/' too),
 * sorted by encoded name then encoded value; a parameter without a value becomes `name=`.
 */
export function canonicalQueryString(rawQuery: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const name = awsUriEncode(percentDecodeBytes(rawName));
    if (name === 'X-Amz-Signature') continue;
    pairs.push([name, awsUriEncode(percentDecodeBytes(rawValue))]);
  }
  // Encoded strings are ASCII, so code-unit order is byte order.
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([name, value]) => `${name}=${value}`).join('&');
}

/**
 * `name:value\n` for each signed header: each value trimmed with inner runs of whitespace
 * collapsed, repeated values joined with ','. A signed header the request lacks counts as empty.
 */
export function canonicalHeaders(headers: HeaderBag, signedHeaders: readonly string[]): string {
  let out = '';
  for (const name of signedHeaders) {
    const values = headerValues(headers, name) ?? [''];
    out += `${name}:${values.map((value) => value.replace(/\s+/g, ' ').trim()).join(',')}\n`;
  }
  return out;
}

export function buildCanonicalRequest(input: CanonicalRequestInput): string {
  const { rawPath, rawQuery } = splitRequestTarget(input.rawUrl);
  return [
    input.method.toUpperCase(),
    canonicalUri(rawPath),
    canonicalQueryString(rawQuery),
    canonicalHeaders(input.headers, input.signedHeaders),
    input.signedHeaders.join(';'),
    input.payloadHash,
  ].join('\n');
}

export function buildStringToSign(amzDate: string, scope: string, canonicalRequest: string): string {
  return [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
