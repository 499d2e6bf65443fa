import type { FileHandle } from 'node:fs/promises';
import type { SlabPool } from '@ferry/common';
import { DIRECT_IO_ALIGNMENT } from './spool.js';

/** Bytes read at a time, and the slab size of a pool handed to readFileRange. */
export const FILE_READ_BYTES = 1024 * 1024;

/**
 * `length` bytes of an open file from `start`, read with positional reads. Many ranges of one
 * handle may be read at once (a blob's blocks, a GET's slices) without a stream attaching itself to
 * the handle; the caller owns the handle and closes it. A file shorter than the range is an error,
 * never a short body. With `slabs` (slabs of at least FILE_READ_BYTES), each read goes into a slab
 * of its own, lent to the consumer (see SlabPool).
 *
 * `direct`: the handle was opened with O_DIRECT, so every read covers whole aligned blocks, into
 * `slabs` that must be aligned; the first read ends on a block boundary so that the rest start on one.
 */
export async function* readFileRange(handle: FileHandle, start: number, length: number, slabs?: SlabPool, direct = false): AsyncGenerator<Buffer> {
  if (slabs && slabs.slabBytes < FILE_READ_BYTES) throw new RangeError(`slabs of ${slabs.slabBytes} bytes for reads of ${FILE_READ_BYTES}`);
  if (direct && !slabs?.aligned) throw new RangeError('reads with O_DIRECT need aligned slabs');
  const end = start + length;
  for (let position = start; position < end; ) {
    const skip = direct ? position % DIRECT_IO_ALIGNMENT : 0;
    const want = Math.min(FILE_READ_BYTES - skip, end - position);
    // a direct read past the end of the file comes back short, which is how the last block is read
    const span = direct ? Math.ceil((skip + want) / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT : want;
    const slab = slabs?.take();
    let read: Buffer;
    try {
      const { bytesRead, buffer } = await handle.read(slab ?? Buffer.allocUnsafe(want), 0, span, position - skip);
      const got = Math.min(bytesRead - skip, want);
      if (got <= 0) throw new Error(`file ended at byte ${position - skip + bytesRead}, before the ${end} bytes expected`);
      if (direct && got < want && bytesRead % DIRECT_IO_ALIGNMENT !== 0) throw new Error(`file ended at byte ${position + got}, before the ${end} bytes expected`);
      position += got;
      read = slab ? slabs!.lend(buffer.subarray(skip, skip + got)) : got === want ? buffer : buffer.subarray(0, got);
    } finally {
      if (slab) slabs!.settle(slab);
    }
    yield read;
  }
}
