import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Derived SigV4 signing keys, cached per (secret, date, region, service): deriving one costs four
 * HMACs and a busy access key signs thousands of requests a day with the same one. The cache is keyed
 * by a hash of the secret so the map never holds secrets as keys, and bounded so that many keys or
 * many days cannot grow it without limit (oldest entry evicted first).
 */
const MAX_CACHED_KEYS = 1024;
const cache = new Map<string, Buffer>();

export function hmacSha256(key: Uint8Array | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

export function deriveSigningKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const secretId = createHash('sha256').update(secretAccessKey, 'utf8').digest('base64');
  const cacheKey = `${secretId}\n${date}\n${region}\n${service}`;
  const cached = cache.get(cacheKey);
  if (cached) return cached;

  const dateKey = hmacSha256(`AWS4${secretAccessKey}`, date);
  const regionKey = hmacSha256(dateKey, region);
  const serviceKey = hmacSha256(regionKey, service);
  const signingKey = hmacSha256(serviceKey, 'aws4_request');

  if (cache.size >= MAX_CACHED_KEYS) {
    const oldest = cache.keys().next().value;
    if (oldest !== undefined) cache.delete(oldest);
  }
  cache.set(cacheKey, signingKey);
  return signingKey;
}

/** Lowercase hex HMAC of a string to sign. */
export function signHex(signingKey: Uint8Array, stringToSign: string): string {
  return hmacSha256(signingKey, stringToSign).toString('hex');
}

/**
 * Constant-time comparison of two lowercase-hex signatures. The caller has already checked that the
 * client's value is 64 hex characters, so only equal-length buffers reach timingSafeEqual.
 */
export function signaturesEqual(expectedHex: string, providedHex: string): boolean {
  const expected = Buffer.from(expectedHex, 'hex');
  const provided = Buffer.from(providedHex, 'hex');
  return expected.length === provided.length && expected.length === 32 && timingSafeEqual(expected, provided);
}
