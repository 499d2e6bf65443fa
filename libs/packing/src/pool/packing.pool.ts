import { availableParallelism } from 'node:os';
import type { OnApplicationShutdown } from '@nestjs/common';
import { Piscina } from 'piscina';
import { CHUNK_ID_BYTES } from '../crypto/chunk-id.js';
import { FRAME_OVERHEAD } from '../pack/chunk-frame.js';
import {
  framesBound,
  type CachedChunkTask,
  type CutResult,
  type CutTask,
  type DecodeChunk,
  type DecodeTask,
  type EncodedFrame,
  type EncodeIntoTask,
  type EncodeTask,
  type FramePlacement,
} from './packing.thread.js';
import { threadModuleUrl } from './thread-module.js';

/** Plaintext bytes of one encode task at most (a chunk larger than that goes alone). */
export const ENCODE_BATCH_BYTES = 8 * 1024 * 1024;
/** What a batch's frames can take: its plaintext plus a frame's overhead for each of its chunks (a batch has fewer than 64). */
export const ENCODE_SLAB_BYTES = ENCODE_BATCH_BYTES + 64 * FRAME_OVERHEAD;

/** `chunks` in order, in encode tasks of up to ENCODE_BATCH_BYTES of plaintext each. */
export function encodeBatches<T extends { length: number }>(chunks: Iterable<T>): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const chunk of chunks) {
    if (batch.length > 0 && bytes + chunk.length > ENCODE_BATCH_BYTES) {
      batches.push(batch);
      batch = [];
      bytes = 0;
    }
    batch.push(chunk);
    bytes += chunk.length;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}

/**
 * Worker threads for the CPU-heavy steps of repacking (cutting, keyed hashing, zstd, AES-GCM) and of
 * reading packs back (AES-GCM, zstd), one per core by default, so the pool uses every core while the
 * event loop moves bytes and talks to Postgres and Blob.
 */
export class PackingPool implements OnApplicationShutdown {
  private constructor(
    private readonly pool: Piscina,
    /** How many threads run tasks. */
    readonly threads: number,
  ) {}

  /**
   * `tasksPerThread`: how many tasks a thread takes at once. Tasks that read the spool (cut, encode)
   * wait for the disk at their start, and a thread with a second task computes meanwhile; tasks that
   * only compute (decode) gain nothing from it.
   */
  static async start(threads = availableParallelism(), tasksPerThread = 1): Promise<PackingPool> {
    const filename = await threadModuleUrl(new URL('./packing.thread.js', import.meta.url));
    return new PackingPool(
      new Piscina({ filename: filename.href, minThreads: threads, maxThreads: threads, idleTimeout: 60_000, concurrentTasksPerWorker: tasksPerThread }),
      threads,
    );
  }

  cut(task: CutTask): Promise<CutResult> {
    return this.pool.run(task, { name: 'cut' }) as Promise<CutResult>;
  }

  /**
   * Compresses and encrypts the chunks into `into`, frame after frame; the frames that resolve are
   * views of it. `into` is shared memory of at least `framesBound(task.chunks)` bytes (an encode
   * slab, reused by the caller once it is done with the frames); without it, a buffer of its own.
   */
  async encode(task: EncodeTask, into?: Buffer): Promise<EncodedFrame[]> {
    const out = into ?? Buffer.from(new SharedArrayBuffer(framesBound(task.chunks)));
    if (!(out.buffer instanceof SharedArrayBuffer)) throw new TypeError('encode can write only into shared memory');
    const message: EncodeIntoTask = { ...task, into: out };
    const placements = (await this.pool.run(message, { name: 'encode' })) as FramePlacement[];
    return placements.map((placed, i) => ({
      id: task.chunks[i].id,
      frame: out.subarray(placed.at, placed.at + placed.length),
      plainLength: placed.plainLength,
      codec: placed.codec,
    }));
  }

  /**
   * Authenticates, decrypts and decompresses adjacent frames of one pack; resolves to the chunks'
   * plaintexts one after another. Frames in a SharedArrayBuffer are read where they are; any others
   * move to the thread, and the caller must not use them again. With `into` (shared memory of exactly
   * the plaintexts' length) the thread writes there and `into` is what resolves.
   */
  async decode(task: { frames: Uint8Array; dataKey: Uint8Array; chunks: DecodeChunk[]; into?: Uint8Array }): Promise<Buffer> {
    const { frames, into } = task;
    if (into && !(into.buffer instanceof SharedArrayBuffer)) throw new TypeError('decode can write only into shared memory');
    const shared = frames.buffer instanceof SharedArrayBuffer;
    // Posting a view clones its whole ArrayBuffer: the ids and the key (from pg and the keyring) sit
    // in Buffer's shared 8 KiB pool, so they go as copies of their own. Frames that own their
    // ArrayBuffer move; a view into a larger one moves as a copy of its own bytes only.
    const owned = frames.byteOffset === 0 && frames.byteLength === frames.buffer.byteLength;
    const posted = shared || owned ? frames : new Uint8Array(frames);
    const ids = Buffer.allocUnsafeSlow(task.chunks.length * CHUNK_ID_BYTES);
    task.chunks.forEach((chunk, i) => {
      if (chunk.id.length !== CHUNK_ID_BYTES) throw new RangeError(`chunk id of ${chunk.id.length} bytes, not ${CHUNK_ID_BYTES}`);
      ids.set(chunk.id, i * CHUNK_ID_BYTES);
    });
    const message: DecodeTask = {
      frames: posted,
      dataKey: new Uint8Array(task.dataKey),
      ids,
      chunks: task.chunks.map(({ codec, plainLength, at, length }) => ({ codec, plainLength, at, length })),
      into,
    };
    const transferList = shared ? [ids.buffer as ArrayBuffer] : [ids.buffer as ArrayBuffer, posted.buffer as ArrayBuffer];
    const result = (await this.pool.run(message, { name: 'decode', transferList })) as Uint8Array | number;
    if (typeof result === 'number') return into instanceof Buffer ? into : Buffer.from(into!.buffer, into!.byteOffset, into!.byteLength);
    return Buffer.from(result.buffer, result.byteOffset, result.byteLength);
  }

  /**
   * A chunk's plaintext read from the spool files of an object that holds it; rejects when the files
   * are gone or their bytes are not that chunk (its keyed id is checked).
   */
  async readCached(task: CachedChunkTask): Promise<Buffer> {
    const posted: CachedChunkTask = { ...task, idKey: new Uint8Array(task.idKey), id: new Uint8Array(task.id) };
    const plain = (await this.pool.run(posted, { name: 'readCached' })) as Uint8Array;
    return Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
