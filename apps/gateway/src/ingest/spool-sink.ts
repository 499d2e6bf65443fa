import type { FileHandle } from 'node:fs/promises';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { BodyDigests } from './body-digests.js';

export interface BodyLimits {
  /** The length the request declared, when it did. */
  declared?: number;
  max: number;
}

/**
 * Drains a body into a spool file: chunks are gathered into pool buffers of 1 MiB, each written
 * with one call and then handed to the hash workers without another copy. Inline checksums see
 * every chunk as it arrives. Stops at the first byte past what was declared or allowed, so an
 * over-long body never fills the disk. Resolves with the body's length; the caller fsyncs.
 */
export async function drainToSpool(source: AsyncIterable<Buffer>, file: FileHandle, digests: BodyDigests, limits: BodyLimits): Promise<number> {
  let buffer = digests.takeBuffer();
  let fill = 0;
  let total = 0;
  const flush = async () => {
    for (let written = 0; written < fill; ) {
      written += (await file.write(buffer, written, fill - written)).bytesWritten;
    }
    const handedOver = buffer;
    const length = fill;
    buffer = digests.takeBuffer();
    fill = 0;
    await digests.submit(handedOver, length);
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
      digests.inline(chunk);
      for (let offset = 0; offset < chunk.length; ) {
        const copied = chunk.copy(buffer, fill, offset);
        fill += copied;
        offset += copied;
        if (fill === buffer.length) await flush();
      }
    }
    if (fill > 0) await flush();
    return total;
  } finally {
    digests.release(buffer);
  }
}
