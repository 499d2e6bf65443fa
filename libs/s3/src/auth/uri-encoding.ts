import { FerryError, FerryErrorCode } from '@ferry/common';

/**
 * Percent-encoding as SigV4 defines it (RFC 3986 unreserved characters pass, every other byte is
 * `%XX` in upper case), and the matching byte-level decoder. Decoding works on bytes, not on
 * `decodeURIComponent`, so a path holding an invalid UTF-8 sequence or a stray `%` still has exactly
 * one canonical form instead of throwing.
 */
const HEX = '0123456789ABCDEF';

function isUnreserved(byte: number): boolean {
  return (
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    byte === 0x2d || // -
    byte === 0x2e || // .
    byte === 0x5f || // _
    byte === 0x7e // ~
  );
}

/** AWS's UriEncode(); `encodeSlash` is false for the path and true for query names and values. */
export function awsUriEncode(input: string | Uint8Array, encodeSlash = true): string {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '';
  for (const byte of bytes) {
    if (isUnreserved(byte) || (byte === 0x2f && !encodeSlash)) {
      out += String.fromCharCode(byte);
    } else {
      out += '%' + HEX[byte >> 4] + HEX[byte & 0x0f];
    }
  }
  return out;
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x41 + 10;
  if (code >= 0x61 && code <= 0x66) return code - 0x61 + 10;
  return -1;
}

/**
 * Decodes `%XX` escapes to bytes; anything else (including '+', which S3 does not read as a space
 * in signed URLs, and a '%' without two hex digits) stays literal.
 */
export function percentDecodeBytes(raw: string): Buffer {
  const source = Buffer.from(raw, 'utf8');
  const out = Buffer.allocUnsafe(source.length);
  let length = 0;
  for (let i = 0; i < source.length; i++) {
    const byte = source[i]!;
    if (byte === 0x25 && i + 2 < source.length) {
      const high = hexValue(source[i + 1]!);
      const low = hexValue(source[i + 2]!);
      if (high >= 0 && low >= 0) {
        out[length++] = (high << 4) | low;
        i += 2;
        continue;
      }
    }
    out[length++] = byte;
  }
  return out.subarray(0, length);
}

/** One query parameter with its raw (as sent) and decoded name and value. */
export interface QueryParam {
  name: string;
  value: string;
  rawName: string;
  rawValue: string;
}

/**
 * Splits a raw query string (without '?') into parameters, in order; `a` and `a=` both have an
 * empty value. Decoded strings are UTF-8 with invalid sequences replaced, fine for lookups; the
 * canonical query is built from the raw bytes instead.
 */
export function parseQueryString(rawQuery: string): QueryParam[] {
  const params: QueryParam[] = [];
  if (rawQuery.length === 0) return params;
  for (const part of rawQuery.split('&')) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    params.push({
      name: percentDecodeBytes(rawName).toString('utf8'),
      value: percentDecodeBytes(rawValue).toString('utf8'),
      rawName,
      rawValue,
    });
  }
  return params;
}

/** Splits a request target (`/path?query`, or absolute-form `http://host/path?query`) in two. */
export function splitRequestTarget(rawUrl: string): { rawPath: string; rawQuery: string } {
  let target = rawUrl;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i.exec(target);
  if (scheme) target = target.slice(scheme[0].length);
  const hash = target.indexOf('#');
  if (hash !== -1) target = target.slice(0, hash);
  const question = target.indexOf('?');
  const rawPath = question === -1 ? target : target.slice(0, question);
  const rawQuery = question === -1 ? '' : target.slice(question + 1);
  return { rawPath: rawPath.length === 0 ? '/' : rawPath, rawQuery };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes a percent-encoded path segment or query value into a string, as a bucket or key name.
 * '+' stays a plus (S3 paths are not form-encoded); bytes that are not valid UTF-8 are refused with
 * InvalidArgument instead of being replaced, since U+FFFD would make different keys collide.
 */
export function decodeUriComponentStrict(raw: string): string {
  try {
    return strictUtf8.decode(percentDecodeBytes(raw));
  } catch {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'The request URI is not valid percent-encoded UTF-8.');
  }
}
