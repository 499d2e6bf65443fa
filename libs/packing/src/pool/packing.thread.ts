import { open, type FileHandle } from 'node:fs/promises';
import { move } from 'piscina';
import { FastCdcChunker, type ChunkingParams } from '../chunking/fastcdc.js';
import { CHUNK_ID_BYTES, chunkIdHash, chunkIdOf } from '../crypto/chunk-id.js';
import { decodeChunk, encodeChunk, FRAME_OVERHEAD, type ChunkCodec } from '../pack/chunk-frame.js';
import { SpoolFiles, spansOf, type SpoolPiece } from './spool-files.js';

export type { SpoolPiece } from './spool-files.js';

/**
 * The CPU-heavy half of repacking, run in worker threads (piscina) so the worker's event loop only
 * moves bytes: cutting and hashing an object's spool files, and compressing and encrypting the
 * chunks the dedup index does not know. Only this lib's own modules and Node are imported here.
 *
 * The memory reads land in is the thread's own and reused from task to task (SpoolFiles). Cutting
 * and encoding read the spool with O_DIRECT, one span ahead (see SpoolFiles.ahead): the thread hashes
 * or compresses one span while the disk fills the next, or works on another task while a task's first
 * read is under way (a thread may run a few at once: SPOOL_TASKS_PER_THREAD). Everything a task keeps
 * across an await is its own; the shared scratch memory (zstd's, synchronous reads') is used up before
 * the next await.
 */

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

/** As posted to a thread: the frames are written one after another into `into` (shared memory). */
export interface EncodeIntoTask extends EncodeTask {
  into: Uint8Array;
}

/** Where a thread wrote each frame in `into`, in the order of the task's chunks. */
export interface FramePlacement {
  at: number;
  length: number;
  plainLength: number;
  codec: ChunkCodec;
}

export interface EncodedFrame {
  id: Uint8Array;
  frame: Uint8Array;
  plainLength: number;
  codec: ChunkCodec;
}

/** Bytes the frames of `chunks` can take at most: a frame is never longer than its plaintext stored as is. */
export function framesBound(chunks: readonly { length: number }[]): number {
  return chunks.reduce((sum, chunk) => sum + chunk.length + FRAME_OVERHEAD, 0);
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
  // each chunk is hashed as its bytes go by, so every read can go into the same buffer
  let hash = chunkIdHash(idKey);
  let offset = 0;
  let length = 0;
  const end = () => {
    ids.push(hash.digest());
    offsets.push(offset);
    lengths.push(length);
    offset += length;
    length = 0;
    hash = chunkIdHash(idKey);
  };
  // READ_BYTES at a time, never across two files, so every read but a file's last is aligned
  const reads: { offset: number; length: number }[] = [];
  let base = 0;
  for (const piece of task.pieces) {
    for (let position = 0; position < piece.size; position += READ_BYTES) reads.push({ offset: base + position, length: Math.min(READ_BYTES, piece.size - position) });
    base += piece.size;
  }
  await SpoolFiles.withAsync(task.pieces, true, async (files) => {
    for await (const read of files.ahead(reads)) {
      let from = 0;
      for (const to of chunker.ends(read)) {
        hash.update(read.subarray(from, to));
        length += to - from;
        end();
        from = to;
      }
      hash.update(read.subarray(from));
      length += read.length - from;
    }
  });
  if (chunker.finishEnds() > 0) end();
  return { ids: Buffer.concat(ids), offsets, lengths };
}

/**
 * Compresses and encrypts the chunks into `task.into`, frame after frame, so that the frames reach
 * the caller in memory it reuses: frames moved back as buffers of their own were new external memory
 * for the caller's heap, and V8 answered every few dozen MiB of it with a full collection.
 */
export async function encode(task: EncodeIntoTask): Promise<FramePlacement[]> {
  const dataKey = asBuffer(task.dataKey);
  const into = asBuffer(task.into);
  if (into.length < framesBound(task.chunks)) throw new RangeError(`${into.length} bytes for frames of up to ${framesBound(task.chunks)}`);
  const compression = task.zstdLevel > 0 ? { level: task.zstdLevel } : false;
  const placements: FramePlacement[] = [];
  let at = 0;
  await SpoolFiles.withAsync(task.pieces, true, async (files) => {
    let i = 0;
    for await (const plain of files.ahead(task.chunks)) {
      const chunk = task.chunks[i++];
      const encoded = encodeChunk(dataKey, asBuffer(chunk.id), plain, compression, into.subarray(at));
      placements.push({ at, length: encoded.frame.length, plainLength: encoded.plainLength, codec: encoded.codec });
      at += encoded.frame.length;
    }
  });
  return placements;
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
export function readCached(task: CachedChunkTask): Uint8Array {
  // through the page cache, which may hold a recent object's bytes
  const read = SpoolFiles.with(task.pieces, false, (files) => files.objectBytesInto(task.offset, Buffer.allocUnsafeSlow(task.length)));
  const id = chunkIdOf(asBuffer(task.idKey), read);
  const expected = asBuffer(task.id);
  if (!id.equals(expected)) throw new Error(`the cached bytes at ${task.offset} are not chunk ${expected.toString('hex')}: they hash to ${id.toString('hex')}`);
  return move(read) as Uint8Array;
}

/** `length` bytes at `offset` of an object spread over `pieces` (its spool files), read on the caller's event loop. */
export async function readObjectSpan(pieces: SpoolPiece[], offset: number, length: number): Promise<Buffer> {
  const handles: FileHandle[] = [];
  try {
    for (const piece of pieces) handles.push(await open(piece.path, 'r'));
    const out = Buffer.allocUnsafe(length);
    let written = 0;
    for (const span of spansOf(pieces, offset, length)) {
      for (let done = 0; done < span.length; ) {
        const { bytesRead } = await handles[span.piece].read(out, written + done, span.length - done, span.start + done);
        if (bytesRead === 0) throw new Error(`spool file ended at byte ${span.start + done}`);
        done += bytesRead;
      }
      written += span.length;
    }
    return out;
  } finally {
    await Promise.all(handles.map((handle) => handle.close()));
  }
}

