import { FerryError, FerryErrorCode } from '@ferry/common';
import { DIRECT_IO_ALIGNMENT, type SpoolFile } from '@ferry/storage';
import type { BodyDigests } from './body-digests.js';

export interface BodyLimits {
  /** The length the request declared, when it did. */
  declared?: number;
  max: number;
  /** Quota held for the body; a body longer than it covers must extend it before more is written. */
  reservation?: { readonly covered: number; extend(total: number): Promise<void> };
}

/**
 * Drains a body into a spool file: chunks are gathered into the hash pool's page-aligned 1 MiB
 * buffers, each written with one call (O_DIRECT when the spool allows it) and then handed to the
 * hash workers without another copy. Inline checksums see every chunk as it arrives. Stops at the
 * first byte past what was declared or allowed, so an over-long body never fills the disk.
 * Resolves with the body's length; the caller fsyncs.
 */
export async function drainToSpool(source: AsyncIterable<Buffer>, file: SpoolFile, digests: BodyDigests, limits: BodyLimits): Promise<number> {
  let buffer: Buffer | undefined = await digests.takeBuffer();
  let fill = 0;
  let total = 0;
  const flush = async (filled: Buffer, last: boolean) => {
    // every buffer but the last is full, so only the tail can break O_DIRECT's alignment: it is
    // written padded with zeros and the file truncated back to the body's length
    const writeLength = file.direct ? Math.ceil(fill / DIRECT_IO_ALIGNMENT) * DIRECT_IO_ALIGNMENT : fill;
    filled.fill(0, fill, writeLength);
    for (let written = 0; written < writeLength; ) {
      written += (await file.handle.write(filled, written, writeLength - written)).bytesWritten;
    }
    if (writeLength !== fill) await file.handle.truncate(total);
    const length = fill;
    fill = 0;
    buffer = undefined; // the hash workers own it now
    await digests.submit(filled, length);
    if (!last) buffer = await digests.takeBuffer();
  };
  try {
    for await (const chunk of source) {
      total += chunk.length;
      if (limits.declared !== undefined && total > limits.declared) {
        throw new FerryError(FerryErrorCode.BodyTooLong, 'The request body is longer than its declared length.');
      }
      if (total > limits.max) {
        throw new FerryError(FerryErrorCode.EntityTooLarge, 'Your proposed upload exceeds the maximum allowed object size.');
      }
      if (limits.reservation && total > limits.reservation.covered) await limits.reservation.extend(total);
      digests.inline(chunk);
      for (let offset = 0; offset < chunk.length; ) {
        const target: Buffer = buffer ?? (buffer = await digests.takeBuffer());
        const copied = chunk.copy(target, fill, offset);
        fill += copied;
        offset += copied;
        if (fill === target.length) await flush(target, false);
      }
    }
    if (fill > 0 && buffer) await flush(buffer, true);
    return total;
  } finally {
    if (buffer) digests.release(buffer);
  }
}
