import { createHash, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkCodec, PackIntegrityError } from './chunk-frame.js';
import {
  compactEvents,
  decodePackHeader,
  decodePackIndex,
  decodePackTrailer,
  encodePackHeader,
  encodePackIndex,
  encodePackTrailer,
  PACK_HEADER_BYTES,
  PACK_TRAILER_BYTES,
  type CatalogEvent,
  type PackIndex,
} from './pack-format.js';

const KEY = createHash('sha256').update('data key').digest();
const id = (n: number) => createHash('sha256').update(`chunk ${n}`).digest();

const sampleEvents = (chunkIds: string[]): CatalogEvent[] => [
  { seq: 41, type: 'bucket.create', at: '2026-11-29T05:00:00.000Z', bucket: 'backups' },
  {
    seq: 42,
    type: 'object.put',
    at: '2026-11-29T05:00:01.000Z',
    bucket: 'backups',
    key: 'a/b.bin',
    versionId: 'null',
    objectId: '0b7d8c8e-1f63-4a53-8d0a-6a3c1e1c9d10',
    size: 2_000_000,
    etag: '"9e107d9d372bb6826bd81d3542a419d6-2"',
    contentType: 'application/octet-stream',
    headers: { cacheControl: 'no-cache' },
    userMetadata: { owner: 'ops' },
    checksums: { CRC32: 'AAAAAA==' },
    checksumType: 'COMPOSITE',
    parts: [
      { size: 1_000_000, etag: '"a"' },
      { size: 1_000_000, etag: '"b"' },
    ],
    chunks: chunkIds.map((chunkId, i): [string, number] => [chunkId, i * 1_000_000]),
  },
  { seq: 43, type: 'object.delete', at: '2026-11-29T05:00:02.000Z', bucket: 'backups', key: 'old', versionId: 'null', objectId: randomUUID() },
  { seq: 44, type: 'bucket.delete', at: '2026-11-29T05:00:03.000Z', bucket: 'scratch' },
];

function sampleIndex(packId: string): PackIndex {
  return {
    version: 1,
    packId,
    tenantId: randomUUID(),
    createdAt: '2026-11-29T05:00:00.000Z',
    chunks: [
      { id: id(1), offset: 32, frameLength: 1_000_028, plainLength: 1_000_000, codec: ChunkCodec.Stored },
      { id: id(2), offset: 1_000_060, frameLength: 400_028, plainLength: 1_000_000, codec: ChunkCodec.Zstd },
    ],
    events: sampleEvents([id(1).toString('base64url'), id(2).toString('base64url')]),
  };
}

describe('pack header and trailer', () => {
  it('round-trip with the layout of docs/format.md', () => {
    const packId = randomUUID();
    const header = encodePackHeader(packId, 7);
    expect(header).toHaveLength(PACK_HEADER_BYTES);
    expect(header.subarray(0, 12).equals(Buffer.from('FRYPACK1\x01\x00\x00\x00', 'latin1'))).toBe(true);
    expect(header.readUInt32LE(12)).toBe(7);
    expect(header.subarray(16).toString('hex')).toBe(packId.replaceAll('-', ''));
    expect(decodePackHeader(header)).toEqual({ packId, keyNumber: 7 });
    expect(decodePackHeader(encodePackHeader(packId.toUpperCase(), 1)).packId).toBe(packId);

    const trailer = encodePackTrailer({ indexOffset: 2 ** 40 + 3, indexLength: 5000, keyNumber: 7 });
    expect(trailer).toHaveLength(PACK_TRAILER_BYTES);
    expect(trailer.readBigUInt64LE(0)).toBe(2n ** 40n + 3n);
    expect(trailer.subarray(16, 24).equals(Buffer.alloc(8))).toBe(true);
    expect(trailer.toString('latin1', 24)).toBe('FRYPEND1');
    expect(decodePackTrailer(trailer)).toEqual({ indexOffset: 2 ** 40 + 3, indexLength: 5000, keyNumber: 7 });
  });

  it('rejects bad input on encode', () => {
    expect(() => encodePackHeader('not-a-uuid', 1)).toThrow(/UUID/);
    expect(() => encodePackHeader(randomUUID(), 0)).toThrow(/key number/);
    expect(() => encodePackTrailer({ indexOffset: 31, indexLength: 100, keyNumber: 1 })).toThrow(/offset/);
    expect(() => encodePackTrailer({ indexOffset: 32, indexLength: 2 ** 32, keyNumber: 1 })).toThrow(/length/);
  });

  it('rejects damage on decode', () => {
    const header = encodePackHeader(randomUUID(), 2);
    const trailer = encodePackTrailer({ indexOffset: 1000, indexLength: 100, keyNumber: 2 });
    const damaged = (buf: Buffer, at: number, value: number) => {
      const copy = Buffer.from(buf);
      copy[at] = value;
      return copy;
    };
    expect(() => decodePackHeader(header.subarray(0, 31))).toThrow(PackIntegrityError);
    expect(() => decodePackHeader(damaged(header, 0, 0x66))).toThrow(/magic/);
    expect(() => decodePackHeader(damaged(header, 8, 2))).toThrow(/version/);
    expect(() => decodePackHeader(damaged(header, 11, 1))).toThrow(/flags/);
    expect(() => decodePackHeader(Buffer.concat([header.subarray(0, 12), Buffer.alloc(4), header.subarray(16)]))).toThrow(/key 0/);
    expect(() => decodePackTrailer(damaged(trailer, 31, 0x30))).toThrow(/magic/);
    expect(() => decodePackTrailer(damaged(trailer, 20, 1))).toThrow(/reserved/);
    expect(() => decodePackTrailer(damaged(trailer, 7, 1))).toThrow(/offset/);
    const early = Buffer.from(trailer);
    early.writeBigUInt64LE(16n, 0);
    expect(() => decodePackTrailer(early)).toThrow(/offset/);
    expect(() => decodePackTrailer(damaged(trailer, 8, 1))).toThrow(/index length/);
    expect(() => decodePackTrailer(damaged(trailer, 12, 0))).toThrow(/key 0/);
  });
});

describe('pack index', () => {
  it('round-trips chunks and every kind of event', () => {
    const packId = randomUUID();
    const index = sampleIndex(packId);
    const frame = encodePackIndex(KEY, index, 3);
    expect(decodePackIndex(KEY, packId, 3, frame)).toEqual(index);
    expect(decodePackIndex(KEY, packId.toUpperCase(), 3, frame)).toEqual(index);
  });

  it('is bound to its pack id, key number and key', () => {
    const packId = randomUUID();
    const frame = encodePackIndex(KEY, sampleIndex(packId), 3);
    expect(() => decodePackIndex(KEY, randomUUID(), 3, frame)).toThrow(PackIntegrityError);
    expect(() => decodePackIndex(KEY, packId, 4, frame)).toThrow(PackIntegrityError);
    expect(() => decodePackIndex(Buffer.alloc(32), packId, 3, frame)).toThrow(PackIntegrityError);
    expect(() => decodePackIndex(KEY, packId, 3, frame.subarray(1))).toThrow(PackIntegrityError);
  });

  it('rejects an authentic index whose contents are wrong', () => {
    const packId = randomUUID();
    // written for another pack id but sealed under this one's: a writer's bug the AAD cannot catch
    const other = encodePackIndex(KEY, { ...sampleIndex(randomUUID()) }, 3);
    expect(() => decodePackIndex(KEY, packId, 3, other)).toThrow(PackIntegrityError);
    const misnamed = encodePackIndex(KEY, { ...sampleIndex(randomUUID()), packId }, 3);
    expect(decodePackIndex(KEY, packId, 3, misnamed).packId).toBe(packId);
    const badEvent = sampleIndex(packId);
    (badEvent.events[1] as { chunks: unknown }).chunks = [['short', 0]];
    expect(() => decodePackIndex(KEY, packId, 3, encodePackIndex(KEY, badEvent, 3))).toThrow(/events\[1\]: chunks/);
    const unknownType = sampleIndex(packId);
    (unknownType.events[0] as { type: string }).type = 'bucket.rename';
    expect(() => decodePackIndex(KEY, packId, 3, encodePackIndex(KEY, unknownType, 3))).toThrow(/unknown type/);
    const badChunk = sampleIndex(packId);
    badChunk.chunks[0].codec = 9 as ChunkCodec;
    expect(() => decodePackIndex(KEY, packId, 3, encodePackIndex(KEY, badChunk, 3))).toThrow(/codec/);
  });
});

describe('compactEvents', () => {
  const at = '2026-11-29T12:00:00.000Z';
  const put = (seq: number, objectId: string): CatalogEvent => ({
    seq,
    type: 'object.put',
    at,
    bucket: 'b',
    key: `k${seq}`,
    versionId: 'null',
    objectId,
    size: 1,
    etag: 'e',
    contentType: null,
    headers: {},
    userMetadata: {},
    checksums: {},
    checksumType: null,
    parts: null,
    chunks: [['AAAA', 0]],
  });
  const del = (seq: number, objectId: string): CatalogEvent => ({ seq, type: 'object.delete', at, bucket: 'b', key: `k${seq}`, versionId: 'null', objectId });

  it('drops the puts of objects the catalog no longer holds, and keeps every delete and bucket event', () => {
    const [live, gone, alsoGone] = [randomUUID(), randomUUID(), randomUUID()];
    const events: CatalogEvent[] = [
      { seq: 1, type: 'bucket.create', at, bucket: 'b' },
      put(2, live),
      put(3, gone),
      put(4, alsoGone),
      del(5, gone),
      put(6, live), // a second put of the same object (a catalog snapshot), both kept
      { seq: 7, type: 'bucket.delete', at, bucket: 'old' },
    ];
    expect(compactEvents(events, new Set([live])).map((event) => event.seq)).toEqual([1, 2, 5, 6, 7]);
    expect(compactEvents(events, new Set()).map((event) => event.seq)).toEqual([1, 5, 7]);
    expect(compactEvents([], new Set([live]))).toEqual([]);
  });
});
