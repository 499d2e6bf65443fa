import { createHmac, type Hmac } from 'node:crypto';

/** A chunk id is HMAC-SHA256 of the chunk's plaintext under the tenant's chunk-id key (docs/format.md). */
export const CHUNK_ID_BYTES = 32;

const ENCODED_ID = /^[A-Za-z0-9_-]{43}$/;

/**
 * Keyed rather than a plain hash so that the same bytes in two tenants get unrelated ids: neither the
 * catalog nor a container can confirm that two tenants hold the same data.
 */
export function chunkIdOf(idKey: Buffer, data: Buffer): Buffer {
  return chunkIdHash(idKey).update(data).digest();
}

/** The same id, fed piece by piece: `update` with the chunk's bytes in order, then `digest`. */
export function chunkIdHash(idKey: Buffer): Hmac {
  if (idKey.length !== 32) throw new RangeError(`chunk-id key must be 32 bytes, not ${idKey.length}`);
  return createHmac('sha256', idKey);
}

export const encodeChunkId = (id: Buffer): string => {
  if (id.length !== CHUNK_ID_BYTES) throw new RangeError(`chunk id must be ${CHUNK_ID_BYTES} bytes, not ${id.length}`);
  return id.toString('base64url');
};

/**
 * Strict: Buffer's base64url decoder skips stray characters and ignores trailing bits, so one id
 * could be spelled several ways; only the canonical spelling is accepted.
 */
export const decodeChunkId = (s: string): Buffer => {
  if (typeof s !== 'string' || !ENCODED_ID.test(s)) throw new TypeError(`not a chunk id: ${JSON.stringify(s)?.slice(0, 80)}`);
  const id = Buffer.from(s, 'base64url');
  if (id.length !== CHUNK_ID_BYTES || id.toString('base64url') !== s) throw new TypeError(`not a chunk id: ${JSON.stringify(s)}`);
  return id;
};
