import { open, type FileHandle } from 'node:fs/promises';
import { move } from 'piscina';
import { FastCdcChunker, type ChunkingParams } from '../chunking/fastcdc.js';
import { CHUNK_ID_BYTES, chunkIdOf } from '../crypto/chunk-id.js';
import { decodeChunk, encodeChunk, type ChunkCodec } from '../pack/chunk-frame.js';

/**
 * The CPU-heavy half of repacking, run in worker threads (piscina) so the worker's event loop only
 * moves bytes: cutting and hashing an object's spool files, and compressing and encrypting the
 * chunks the dedup index does not know. Only this lib's own modules and Node are imported here.
 */

export interface SpoolPiece {
  /** Absolute path of a spool file holding part of the object, in order. */
  path: string;
  size: number;
}

export interface CutTask {
  pieces: SpoolPiece[];
  idKey: Uint8Array;
  params: ChunkingParams;
}

/** Chunk ids concatenated (32 bytes each), with each chunk's offset and length in the object. */
export interface CutResult {
  ids: Uint8Array;
  offsets: number[];
  lengths: number[];
}

export interface EncodeTask {
  pieces: SpoolPiece[];
  chunks: { id: Uint8Array; offset: number; length: number }[];
  dataKey: Uint8Array;
  zstdLevel: number;
}

export interface EncodedFrame {
  id: Uint8Array;
  frame: Uint8Array;
  plainLength: number;
  codec: ChunkCodec;
}

export interface DecodeChunk {
  id: Uint8Array;
  codec: ChunkCodec;
  plainLength: number;
  /** Where the chunk's frame starts in the fetched frames, and its length. */
  at: number;
  length: number;
}

/** As posted to a thread: small views are gathered into buffers of their own (see PackingPool.decode). */
export interface DecodeTask {
  /** Adjacent frames fetched from one pack (moved to the thread, or shared when a SharedArrayBuffer holds them). */
  frames: Uint8Array;
  dataKey: Uint8Array;
  /** The chunks' ids, CHUNK_ID_BYTES each, in order. */
  ids: Uint8Array;
  chunks: Omit<DecodeChunk, 'id'>[];
  /** Where to write the plaintexts (shared memory, exactly their length); else they come back in a buffer moved to the caller. */
  into?: Uint8Array;
}

/** A chunk's plaintext as a cached object's spool files hold it, checked against its id. */
export interface CachedChunkTask {
  pieces: SpoolPiece[];
  /** The chunk's offset in that object, and its length. */
  offset: number;
  length: number;
  idKey: Uint8Array;
  id: Uint8Array;
}

const READ_BYTES = 4 * 1024 * 1024;

/** A view of the same memory as a Buffer (what crosses threads arrives as a plain Uint8Array). */
const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export async function cut(task: CutTask): Promise<CutResult> {
  const idKey = asBuffer(task.idKey);
  const chunker = new FastCdcChunker(task.params);
  const ids: Buffer[] = [];
  const offsets: number[] = [];
  const lengths: number[] = [];
  const take = (chunks: { offset: number; length: number; data: Buffer }[]) => {
    for (const chunk of chunks) {
      ids.push(chunkIdOf(idKey, chunk.data));
      offsets.push(chunk.offset);
      lengths.push(chunk.length);
    }
  };
  await withPieces(task.pieces, async (handles) => {
    for (let i = 0; i < handles.length; i++) {
      const size = task.pieces[i].size;
      for (let position = 0; position < size; ) {
        const want = Math.min(READ_BYTES, size - position);
        const buffer = Buffer.allocUnsafe(want);
        await readFully(handles[i], buffer, position);
        position += want;
        take(chunker.push(buffer));
      }
    }
  });
  take(chunker.finish());
  return { ids: Buffer.concat(ids), offsets, lengths };
}

export async function encode(task: EncodeTask): Promise<EncodedFrame[]> {
  const dataKey = asBuffer(task.dataKey);
  const compression = task.zstdLevel > 0 ? { level: task.zstdLevel } : false;
  const frames: EncodedFrame[] = [];
  await withPieces(task.pieces, async (handles) => {
    for (const chunk of task.chunks) {
      const plain = await readSpan(handles, task.pieces, chunk.offset, chunk.length);
      const id = asBuffer(chunk.id);
      const encoded = encodeChunk(dataKey, id, plain, compression);
      frames.push({ id: chunk.id, frame: encoded.frame, plainLength: encoded.plainLength, codec: encoded.codec });
    }
  });
  return frames;
}

/**
 * The chunks' plaintexts one after another: written into `task.into` (the count of bytes comes
 * back), or into one buffer moved back to the caller. Every frame is authenticated before its bytes
 * are written; the first that fails throws (PackIntegrityError's message, the class does not cross
 * threads).
 */
export function decode(task: DecodeTask): Uint8Array | number {
  const dataKey = asBuffer(task.dataKey);
  const frames = asBuffer(task.frames);
  const total = task.chunks.reduce((sum, chunk) => sum + chunk.plainLength, 0);
  if (task.into && task.into.byteLength !== total) throw new RangeError(`output of ${task.into.byteLength} bytes for ${total} bytes of plaintext`);
  const out = task.into ? asBuffer(task.into) : Buffer.allocUnsafeSlow(total);
  let at = 0;
  const ids = asBuffer(task.ids);
  for (const [i, chunk] of task.chunks.entries()) {
    const frame = frames.subarray(chunk.at, chunk.at + chunk.length);
    const id = ids.subarray(i * CHUNK_ID_BYTES, (i + 1) * CHUNK_ID_BYTES);
    decodeChunk(dataKey, id, chunk.codec, chunk.plainLength, frame, out.subarray(at, at + chunk.plainLength));
    at += chunk.plainLength;
  }
  return task.into ? total : (move(out) as Uint8Array);
}

/**
 * Reads a chunk from the spool files of an object that holds it (the recovery cache) and returns its
 * plaintext, moved to the caller, only if its keyed hash is the chunk's id: bytes that differ (a
 * damaged file, a place that no longer holds the chunk) throw, and the caller reads the pack instead.
 */
export async function readCached(task: CachedChunkTask): Promise<Uint8Array> {
  const read = await readObjectSpan(task.pieces, task.offset, task.length);
  const id = chunkIdOf(asBuffer(task.idKey), read);
  const expected = asBuffer(task.id);
  if (!id.equals(expected)) throw new Error(`the cached bytes at ${task.offset} are not chunk ${expected.toString('hex')}: they hash to ${id.toString('hex')}`);
  // a small read may sit in Buffer's shared pool, which must not move
  const plain = read.byteOffset === 0 && read.byteLength === read.buffer.byteLength ? read : new Uint8Array(read);
  return move(plain) as Uint8Array;
}

async function withPieces<T>(pieces: SpoolPiece[], work: (handles: FileHandle[]) => Promise<T>): Promise<T> {
  const handles: FileHandle[] = [];
  try {
    for (const piece of pieces) handles.push(await open(piece.path, 'r'));
    return await work(handles);
  } finally {
    await Promise.all(handles.map((handle) => handle.close()));
  }
}

/** `length` bytes at `offset` of an object spread over `pieces` (its spool files). */
export async function readObjectSpan(pieces: SpoolPiece[], offset: number, length: number): Promise<Buffer> {
  return withPieces(pieces, (handles) => readSpan(handles, pieces, offset, length));
}

async function readSpan(handles: FileHandle[], pieces: SpoolPiece[], offset: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let written = 0;
  let base = 0;
  for (let i = 0; i < pieces.length && written < length; i++) {
    const size = pieces[i].size;
    const start = offset + written - base;
    if (start < size) {
      const take = Math.min(size - start, length - written);
      await readFully(handles[i], out.subarray(written, written + take), start);
      written += take;
    }
    base += size;
  }
  if (written !== length) throw new Error(`spool files end before byte ${offset + length}`);
  return out;
}

async function readFully(handle: FileHandle, into: Buffer, position: number): Promise<void> {
  for (let done = 0; done < into.length; ) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`spool file ended at byte ${position + done}`);
    done += bytesRead;
  }
}
