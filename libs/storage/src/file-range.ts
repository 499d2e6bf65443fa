import type { FileHandle } from 'node:fs/promises';

const READ_BYTES = 1024 * 1024;

/**
 * `length` bytes of an open file from `start`, read with positional reads. Many ranges of one
 * handle may be read at once (a blob's blocks, a GET's slices) without a stream attaching itself to
 * the handle; the caller owns the handle and closes it. A file shorter than the range is an error,
 * never a short body.
 */
export async function* readFileRange(handle: FileHandle, start: number, length: number): AsyncGenerator<Buffer> {
  const end = start + length;
  for (let position = start; position < end; ) {
    const want = Math.min(READ_BYTES, end - position);
    const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, position);
    if (bytesRead === 0) throw new Error(`file ended at byte ${position}, before the ${end} bytes expected`);
    position += bytesRead;
    yield bytesRead === want ? buffer : buffer.subarray(0, bytesRead);
  }
}
