import { createHash } from 'node:crypto';
import { EMPTY_SHA256 } from './payload-hash.js';
import { signHex } from './signing-key.js';
import type { SigningContext } from './sigv4.js';

/**
 * The per-chunk and trailer signatures of aws-chunked uploads. Each signature chains on the one
 * before it (starting at the request's seed signature), so chunks cannot be dropped, reordered or
 * moved between uploads.
 */
export function chunkSignature(context: SigningContext, previousSignature: string, chunkSha256Hex: string): string {
  const stringToSign = [
    'AWS4-HMAC-SHA256-PAYLOAD',
    context.amzDate,
    context.scope,
    previousSignature,
    EMPTY_SHA256,
    chunkSha256Hex,
  ].join('\n');
  return signHex(context.signingKey, stringToSign);
}

/**
 * Signature over the trailing headers: SHA-256 of their canonical form, each `name:value\n` with
 * the name lowercased and the value trimmed, sorted by name as the SDKs send them.
 */
export function trailerSignature(
  context: SigningContext,
  previousSignature: string,
  trailers: ReadonlyMap<string, string>,
): string {
  const stringToSign = [
    'AWS4-HMAC-SHA256-TRAILER',
    context.amzDate,
    context.scope,
    previousSignature,
    createHash('sha256').update(canonicalTrailers(trailers), 'utf8').digest('hex'),
  ].join('\n');
  return signHex(context.signingKey, stringToSign);
}

export function canonicalTrailers(trailers: ReadonlyMap<string, string>): string {
  return [...trailers.entries()]
    .map(([name, value]) => [name.toLowerCase(), value.trim()] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `${name}:${value}\n`)
    .join('');
}
