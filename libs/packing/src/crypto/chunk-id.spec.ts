import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CHUNK_ID_BYTES, chunkIdOf, decodeChunkId, encodeChunkId } from './chunk-id.js';

describe('chunk ids', () => {
  const keyA = Buffer.alloc(32, 0xa1);
  const keyB = Buffer.alloc(32, 0xb2);
  const data = Buffer.from('the same bytes in two tenants');

  it('are HMAC-SHA256 of the plaintext under the chunk-id key', () => {
    const id = chunkIdOf(keyA, data);
    expect(id).toHaveLength(CHUNK_ID_BYTES);
    expect(id.equals(createHmac('sha256', keyA).update(data).digest())).toBe(true);
    expect(chunkIdOf(keyA, Buffer.from(data)).equals(id)).toBe(true);
  });

  it('differ across tenants (keys) for the same bytes', () => {
    expect(chunkIdOf(keyA, data).equals(chunkIdOf(keyB, data))).toBe(false);
  });

  it('refuse a key that is not 32 bytes', () => {
    expect(() => chunkIdOf(Buffer.alloc(16), data)).toThrow(/32 bytes/);
  });

  it('round-trip through base64url', () => {
    for (let i = 0; i < 50; i++) {
      const id = randomBytes(32);
      const text = encodeChunkId(id);
      expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(decodeChunkId(text).equals(id)).toBe(true);
    }
  });

  it('reject anything but a canonical 32-byte id', () => {
    const text = encodeChunkId(randomBytes(32));
    expect(() => encodeChunkId(Buffer.alloc(31))).toThrow(/32 bytes/);
    expect(() => decodeChunkId(text.slice(1))).toThrow(/not a chunk id/);
    expect(() => decodeChunkId(`${text}A`)).toThrow(/not a chunk id/);
    expect(() => decodeChunkId(`${text.slice(0, 42)}=`)).toThrow(/not a chunk id/);
    expect(() => decodeChunkId(`${text.slice(0, 42)}+`)).toThrow(/not a chunk id/);
    expect(() => decodeChunkId(42 as unknown as string)).toThrow(/not a chunk id/);
    // the last character carries 2 unused bits: a non-canonical spelling of the same bytes
    const last = text[42];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(last) ^ 1];
    expect(() => decodeChunkId(text.slice(0, 42) + sibling)).toThrow(/not a chunk id/);
  });
});
