import type { FileHandle } from 'node:fs/promises';
import type { SlabPool } from '@ferry/common';

/** Bytes read at a time, and the slab size of a pool handed to readFileRange. */
export const FILE_READ_BYTES = 1024 * 1024;

/**
 * `length` bytes of an open file from `start`, read with positional reads. Many ranges of one
 * handle may be read at once (a blob's blocks, a GET's slices) without a stream attaching itself to
 * the handle; the caller owns the handle and closes it. A file shorter than the range is an error,
 * never a short body. With `slabs` (slabs of at least FILE_READ_BYTES), each read goes into a slab
 * of its own, lent to the consumer (see SlabPool).
 */
export async function* readFileRange(handle: FileHandle, start: number, length: number, slabs?: SlabPool): AsyncGenerator<Buffer> {
  if (slabs && slabs.slabBytes < FILE_READ_BYTES) throw new RangeError(`slabs of ${slabs.slabBytes} bytes for reads of ${FILE_READ_BYTES}`);
  const end = start + length;
  for (let position = start; position < end; ) {
    const want = Math.min(FILE_READ_BYTES, end - position);
    const slab = slabs?.take();
    let read: Buffer;
    try {
      const { bytesRead, buffer } = await handle.read(slab ?? Buffer.allocUnsafe(want), 0, want, position);
      if (bytesRead === 0) throw new Error(`file ended at byte ${position}, before the ${end} bytes expected`);
      position += bytesRead;
      read = slab ? slabs!.lend(buffer.subarray(0, bytesRead)) : bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
    } finally {
      if (slab) slabs!.settle(slab);
    }
    yield read;
  }
}
