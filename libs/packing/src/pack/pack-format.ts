import { decodeChunkId, encodeChunkId } from '../crypto/chunk-id.js';
import { ChunkCodec, FRAME_OVERHEAD, openFrame, PackIntegrityError, sealFrame } from './chunk-frame.js';
import { zstdCompressTransient, zstdDecompress } from './zstd.js';

/** The pack layout of docs/format.md: header, chunk frames, index frame, trailer; integers little-endian. */
export const PACK_HEADER_BYTES = 32;
export const PACK_TRAILER_BYTES = 32;
export const PACK_HEADER_MAGIC = 'FRYPACK1';
export const PACK_TRAILER_MAGIC = 'FRYPEND1';
export const PACK_FORMAT_VERSION = 1;

/** Indexes are small and written once per pack, so they can afford more than the chunks' level 1. */
const INDEX_ZSTD_LEVEL = 3;
const INDEX_AAD_PREFIX = Buffer.from('ferry-index/1', 'latin1');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface PackChunkEntry {
  id: Buffer;
  offset: number;
  frameLength: number;
  plainLength: number;
  codec: ChunkCodec;
}

/** The standard headers an object keeps (the catalog's StoredHeaders). */
export interface EventObjectHeaders {
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
}

interface EventBase {
  seq: number;
  at: string;
}

export interface ObjectPutEvent extends EventBase {
  type: 'object.put';
  bucket: string;
  key: string;
  versionId: string;
  objectId: string;
  size: number;
  etag: string;
  contentType: string | null;
  headers: EventObjectHeaders;
  userMetadata: Record<string, string>;
  checksums: Record<string, string>;
  checksumType: string | null;
  parts: { size: number; etag: string }[] | null;
  /**
   * The manifest: each chunk's base64url id and its offset in the object, in order, and where the
   * object's bytes start inside the chunk when that is not 0 (a ranged part copy cut it).
   */
  chunks: Array<[string, number] | [string, number, number]>;
}

export interface ObjectDeleteEvent extends EventBase {
  type: 'object.delete';
  bucket: string;
  key: string;
  versionId: string;
  objectId: string;
}

export interface BucketCreateEvent extends EventBase {
  type: 'bucket.create';
  bucket: string;
}

export interface BucketDeleteEvent extends EventBase {
  type: 'bucket.delete';
  bucket: string;
}

export type CatalogEvent = ObjectPutEvent | ObjectDeleteEvent | BucketCreateEvent | BucketDeleteEvent;

export interface PackIndex {
  version: 1;
  packId: string;
  tenantId: string;
  createdAt: string;
  chunks: PackChunkEntry[];
  events: CatalogEvent[];
}

/** The canonical (lower-case) spelling of a pack id; throws unless it is a UUID. */
export function canonicalPackId(packId: string): string {
  if (typeof packId !== 'string' || !UUID.test(packId)) throw new TypeError(`pack id must be a UUID, not ${JSON.stringify(packId)}`);
  return packId.toLowerCase();
}

const packIdBytes = (packId: string): Buffer => Buffer.from(canonicalPackId(packId).replaceAll('-', ''), 'hex');

function packIdFromBytes(bytes: Buffer): string {
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function checkKeyNumber(keyNumber: number): void {
  if (!Number.isInteger(keyNumber) || keyNumber < 1 || keyNumber > 0xffff_ffff) throw new RangeError(`invalid data key number ${keyNumber}`);
}

export function encodePackHeader(packId: string, keyNumber: number): Buffer {
  checkKeyNumber(keyNumber);
  const header = Buffer.alloc(PACK_HEADER_BYTES);
  header.write(PACK_HEADER_MAGIC, 0, 'latin1');
  header.writeUInt16LE(PACK_FORMAT_VERSION, 8);
  header.writeUInt16LE(0, 10); // flags
  header.writeUInt32LE(keyNumber, 12);
  packIdBytes(packId).copy(header, 16);
  return header;
}

export function decodePackHeader(buf: Buffer): { packId: string; keyNumber: number } {
  if (buf.length !== PACK_HEADER_BYTES) throw new PackIntegrityError(`pack header of ${buf.length} bytes`);
  if (buf.toString('latin1', 0, 8) !== PACK_HEADER_MAGIC) throw new PackIntegrityError('not a pack: bad header magic');
  const version = buf.readUInt16LE(8);
  if (version !== PACK_FORMAT_VERSION) throw new PackIntegrityError(`unsupported pack version ${version}`);
  // no flag is defined: a set one is damage, or a format this reader does not know
  if (buf.readUInt16LE(10) !== 0) throw new PackIntegrityError(`unknown pack flags ${buf.readUInt16LE(10)}`);
  const keyNumber = buf.readUInt32LE(12);
  if (keyNumber === 0) throw new PackIntegrityError('pack header names data key 0');
  return { packId: packIdFromBytes(buf.subarray(16, 32)), keyNumber };
}

export function encodePackTrailer(t: { indexOffset: number; indexLength: number; keyNumber: number }): Buffer {
  if (!Number.isSafeInteger(t.indexOffset) || t.indexOffset < PACK_HEADER_BYTES) throw new RangeError(`invalid index offset ${t.indexOffset}`);
  if (!Number.isInteger(t.indexLength) || t.indexLength < FRAME_OVERHEAD || t.indexLength > 0xffff_ffff) {
    throw new RangeError(`invalid index length ${t.indexLength}`);
  }
  checkKeyNumber(t.keyNumber);
  const trailer = Buffer.alloc(PACK_TRAILER_BYTES);
  trailer.writeBigUInt64LE(BigInt(t.indexOffset), 0);
  trailer.writeUInt32LE(t.indexLength, 8);
  trailer.writeUInt32LE(t.keyNumber, 12);
  trailer.write(PACK_TRAILER_MAGIC, 24, 'latin1'); // bytes 16-23 stay zero
  return trailer;
}

export function decodePackTrailer(buf: Buffer): { indexOffset: number; indexLength: number; keyNumber: number } {
  if (buf.length !== PACK_TRAILER_BYTES) throw new PackIntegrityError(`pack trailer of ${buf.length} bytes`);
  if (buf.toString('latin1', 24, 32) !== PACK_TRAILER_MAGIC) throw new PackIntegrityError('not a pack: bad trailer magic');
  if (buf.readBigUInt64LE(16) !== 0n) throw new PackIntegrityError('pack trailer: reserved bytes are not zero');
  const offset = buf.readBigUInt64LE(0);
  if (offset > BigInt(Number.MAX_SAFE_INTEGER) || offset < BigInt(PACK_HEADER_BYTES)) throw new PackIntegrityError(`pack trailer: index offset ${offset}`);
  const indexLength = buf.readUInt32LE(8);
  if (indexLength < FRAME_OVERHEAD) throw new PackIntegrityError(`pack trailer: index length ${indexLength}`);
  const keyNumber = buf.readUInt32LE(12);
  if (keyNumber === 0) throw new PackIntegrityError('pack trailer names data key 0');
  return { indexOffset: Number(offset), indexLength, keyNumber };
}

/** `"ferry-index/1" | pack id (16 bytes) | u32 LE data key number`: an index belongs to one pack. */
function indexAad(packId: string, keyNumber: number): Buffer {
  const aad = Buffer.alloc(INDEX_AAD_PREFIX.length + 20);
  INDEX_AAD_PREFIX.copy(aad, 0);
  packIdBytes(packId).copy(aad, INDEX_AAD_PREFIX.length);
  aad.writeUInt32LE(keyNumber, INDEX_AAD_PREFIX.length + 16);
  return aad;
}

export function encodePackIndex(dataKey: Buffer, index: PackIndex, keyNumber: number): Buffer {
  checkKeyNumber(keyNumber);
  const json = {
    version: index.version,
    packId: canonicalPackId(index.packId),
    tenantId: index.tenantId,
    createdAt: index.createdAt,
    chunks: index.chunks.map((c) => ({ id: encodeChunkId(c.id), offset: c.offset, frameLength: c.frameLength, plainLength: c.plainLength, codec: c.codec })),
    events: index.events,
  };
  const compressed = zstdCompressTransient(INDEX_ZSTD_LEVEL, Buffer.from(JSON.stringify(json)));
  return sealFrame(dataKey, indexAad(index.packId, keyNumber), compressed);
}

export function decodePackIndex(dataKey: Buffer, packId: string, keyNumber: number, frame: Buffer): PackIndex {
  const what = `index of pack ${packId}`;
  const plain = unzstd(openFrame(dataKey, indexAad(packId, keyNumber), frame, what), what);
  let json: unknown;
  try {
    json = JSON.parse(plain.toString('utf8'));
  } catch (error) {
    throw new PackIntegrityError(`${what}: not JSON`, { cause: error });
  }
  // the tag already vouches for the bytes; these checks catch a writer's bugs before a rebuild trusts them
  const fail = (why: string): never => {
    throw new PackIntegrityError(`${what}: ${why}`);
  };
  if (!isRecord(json) || json.version !== 1) return fail('not a version 1 index');
  if (typeof json.packId !== 'string' || json.packId.toLowerCase() !== canonicalPackId(packId)) return fail(`names pack ${String(json.packId)}`);
  if (typeof json.tenantId !== 'string' || typeof json.createdAt !== 'string') return fail('tenantId or createdAt missing');
  if (!Array.isArray(json.chunks) || !Array.isArray(json.events)) return fail('chunks or events missing');
  const chunks = json.chunks.map((c: unknown, i): PackChunkEntry => {
    if (!isRecord(c) || ![c.offset, c.frameLength, c.plainLength].every(isCount)) return fail(`chunks[${i}] is malformed`);
    if (c.codec !== ChunkCodec.Stored && c.codec !== ChunkCodec.Zstd) return fail(`chunks[${i}] has unknown codec ${String(c.codec)}`);
    let id: Buffer;
    try {
      id = decodeChunkId(c.id as string);
    } catch {
      return fail(`chunks[${i}] has a malformed id`);
    }
    return { id, offset: c.offset as number, frameLength: c.frameLength as number, plainLength: c.plainLength as number, codec: c.codec };
  });
  json.events.forEach((event: unknown, i) => {
    const why = eventProblem(event);
    if (why) fail(`events[${i}]: ${why}`);
  });
  return { version: 1, packId: json.packId, tenantId: json.tenantId, createdAt: json.createdAt, chunks, events: json.events as CatalogEvent[] };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isStrings = (value: unknown) => isRecord(value) && Object.values(value).every((v) => typeof v === 'string');
const isNullableString = (value: unknown) => value === null || typeof value === 'string';

/** `[chunk id, offset]`, or `[chunk id, offset, skip]` when the object's bytes start inside the chunk. */
const isManifestEntry = (c: unknown): boolean =>
  Array.isArray(c) && (c.length === 2 || (c.length === 3 && isCount(c[2]))) && isChunkId(c[0]) && isCount(c[1]);

/** Why a value is not a CatalogEvent, or undefined when it is one. Fields beyond these are allowed. */
function eventProblem(event: unknown): string | undefined {
  if (!isRecord(event)) return 'not an object';
  if (!isCount(event.seq) || typeof event.at !== 'string' || typeof event.bucket !== 'string') return 'seq, at or bucket missing';
  switch (event.type) {
    case 'bucket.create':
    case 'bucket.delete':
      return undefined;
    case 'object.delete':
    case 'object.put':
      if (![event.key, event.versionId, event.objectId].every((v) => typeof v === 'string')) return 'key, versionId or objectId missing';
      if (event.type === 'object.delete') return undefined;
      if (!isCount(event.size) || typeof event.etag !== 'string') return 'size or etag missing';
      if (!isNullableString(event.contentType) || !isNullableString(event.checksumType)) return 'contentType or checksumType malformed';
      if (!isStrings(event.headers) || !isStrings(event.userMetadata) || !isStrings(event.checksums)) return 'headers, userMetadata or checksums malformed';
      if (event.parts !== null && !(Array.isArray(event.parts) && event.parts.every((p) => isRecord(p) && isCount(p.size) && typeof p.etag === 'string'))) {
        return 'parts malformed';
      }
      if (!Array.isArray(event.chunks) || !event.chunks.every(isManifestEntry)) {
        return 'chunks malformed';
      }
      return undefined;
    default:
      return `unknown type ${JSON.stringify(event.type)}`;
  }
}

function isChunkId(value: unknown): boolean {
  try {
    decodeChunkId(value as string);
    return true;
  } catch {
    return false;
  }
}

function unzstd(data: Buffer, what: string): Buffer {
  try {
    return zstdDecompress(data);
  } catch (error) {
    throw new PackIntegrityError(`${what}: zstd data does not decode`, { cause: error });
  }
}

/**
 * The events a rewritten pack must still carry: all of them but the `object.put` events of objects
 * the catalog no longer holds (`live` lists the object ids it does hold). A rebuild would create
 * such an object only for a later `object.delete` to remove it, and its manifest is most of an
 * event's bytes; without this, every put ever made would stay in the container. Deletes stay: a put
 * of the same object may still sit in a pack not rewritten yet (or twice, after a catalog snapshot),
 * and the delete is what keeps it deleted. Bucket events stay.
 */
export function compactEvents(events: CatalogEvent[], live: ReadonlySet<string>): CatalogEvent[] {
  return events.filter((event) => event.type !== 'object.put' || live.has(event.objectId));
}
