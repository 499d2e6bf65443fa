import { Transform, type TransformCallback } from 'node:stream';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { Hasher, HashSession } from '@ferry/s3';

/**
 * Counts and hashes the decoded body on its way to the spool, and stops it as soon as it exceeds
 * what was declared or allowed, so an over-long body never fills the disk. Cheap checksums run
 * here; MD5 and SHA go to a worker-thread session, which slows the stream down when it falls behind.
 */
export class BodyMeter extends Transform {
  bytes = 0;

  constructor(
    private readonly hashers: Hasher[],
    private readonly limit: { declared?: number; max: number },
    private readonly offThread?: HashSession,
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
    let pending: Promise<void> | undefined;
    try {
      pending = this.offThread?.update(chunk);
    } catch (error) {
      done(error as Error);
      return;
    }
    this.push(chunk);
    if (pending) pending.then(() => done(), done);
    else done();
  }
}
