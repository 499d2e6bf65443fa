import { Transform, type TransformCallback } from 'node:stream';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { Hasher } from '@ferry/s3';

/**
 * Counts and hashes the decoded body on its way to the spool, and stops it as soon as it exceeds
 * what was declared or allowed, so an over-long body never fills the disk.
 */
export class BodyMeter extends Transform {
  bytes = 0;

  constructor(
    private readonly hashers: Hasher[],
    private readonly limit: { declared?: number; max: number },
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.limit.declared !== undefined && this.bytes > this.limit.declared) {
      done(new FerryError(FerryErrorCode.BodyTooLong, 'The request body is longer than its declared length.'));
      return;
    }
    if (this.bytes > this.limit.max) {
      done(new FerryError(FerryErrorCode.EntityTooLarge, 'Your proposed upload exceeds the maximum allowed object size.'));
      return;
    }
    for (const hasher of this.hashers) hasher.update(chunk);
    done(null, chunk);
  }
}
