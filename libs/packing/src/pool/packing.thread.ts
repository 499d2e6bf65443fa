import { open, type FileHandle } from 'node:fs/promises';
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { FastCdcChunker, type ChunkingParams } from '../chunking/fastcdc.js';
import { CHUNK_ID_BYTES, chunkIdHash, chunkIdOf } from '../crypto/chunk-id.js';
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

/**
 * Buffers this thread reads spool bytes into, kept between tasks. A fresh multi-MiB buffer costs
 * more than the read itself: glibc maps it to new pages, the read faults them in one by one, and they
 * go back to the kernel when the buffer is collected (allocating and filling 1 GiB in fresh 4 MiB
 * buffers took 0.7-0.9 CPU-s here, half of it in the kernel; in one reused buffer, 0.01). Cutting and
 * encoding 64 MiB of log-like data in one thread took 7.6-8.5 CPU-s per GiB with a new buffer per read
 * (and a concatenation per chunk that spans two reads) and 4.1-5.0 with these.
 */
const scratches: Buffer[] = [];

async function withScratch<T>(bytes: number, work: (scratch: Buffer) => Promise<T>): Promise<T> {
  // a task that takes one while another task of this thread holds one (tasks interleave at their
  // awaits) gets one of its own, so no two tasks ever share one
  let scratch = scratches.pop();
  if (!scratch || scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(Math.max(bytes, READ_BYTES));
  try {
    return await work(scratch);
  } finally {
    scratches.push(scratch);
  }
}

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
  await withPieces(task.pieces, (handles) =>
    withScratch(READ_BYTES, async (scratch) => {
      for (let i = 0; i < handles.length; i++) {
        const size = task.pieces[i].size;
        for (let position = 0; position < size; ) {
          const read = scratch.subarray(0, Math.min(READ_BYTES, size - position));
          await readFully(handles[i], read, position);
          position += read.length;
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
      }
    }),
  );
  if (chunker.finishEnds() > 0) end();
  return { ids: Buffer.concat(ids), offsets, lengths };
}

export async function encode(task: EncodeTask): Promise<EncodedFrame[]> {
  const dataKey = asBuffer(task.dataKey);
  const compression = task.zstdLevel > 0 ? { level: task.zstdLevel } : false;
  const frames: EncodedFrame[] = [];
  const largest = task.chunks.reduce((max, chunk) => Math.max(max, chunk.length), 0);
  await withPieces(task.pieces, (handles) =>
    withScratch(largest, async (scratch) => {
      for (const chunk of task.chunks) {
        // encodeChunk is done with the plaintext when it returns: the frame is new memory
        const plain = await readSpan(handles, task.pieces, chunk.offset, chunk.length, scratch);
        const id = asBuffer(chunk.id);
        const encoded = encodeChunk(dataKey, id, plain, compression);
        frames.push({ id: chunk.id, frame: encoded.frame, plainLength: encoded.plainLength, codec: encoded.codec });
      }
    }),
  );
  // Each frame owns its memory, which moves to the caller rather than being copied there: a posted
  // result is otherwise cloned, a second allocation and copy of every stored byte.
  const buffers = frames.map(({ frame }) => {
    if (frame.byteOffset !== 0 || frame.byteLength !== frame.buffer.byteLength) throw new Error('a frame does not own its memory');
    return frame.buffer;
  });
  return move({ [transferableSymbol]: buffers, [valueSymbol]: frames }) as unknown as EncodedFrame[];
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

/** Into `into` when given (its first `length` bytes, returned as a view), else into a new buffer. */
async function readSpan(handles: FileHandle[], pieces: SpoolPiece[], offset: number, length: number, into?: Buffer): Promise<Buffer> {
  const out = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
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
