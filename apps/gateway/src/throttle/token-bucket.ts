import { Transform, type TransformCallback } from 'node:stream';

/**
 * Bytes per second for every stream of one tenant together. Takers queue in arrival order, so
 * the streams of a tenant share its rate evenly; a chunk larger than the bucket is let through and
 * paid for by waiting afterwards (debt), so no chunk size can stall a stream.
 */
export class TokenBucket {
  private tokens: number;
  private last = performance.now();
  private queue: Promise<void> = Promise.resolve();

  constructor(private rate: number) {
    this.tokens = rate / 10;
  }

  /** A new rate applies from now on, to streams already running too. */
  setRate(rate: number): void {
    this.rate = rate;
  }

  take(bytes: number): Promise<void> {
    const turn = this.queue.then(async () => {
      const now = performance.now();
      // at most a tenth of a second's worth saved up: a burst, not a stockpile
      this.tokens = Math.min(this.rate / 10, this.tokens + ((now - this.last) / 1000) * this.rate);
      this.last = now;
      this.tokens -= bytes;
      if (this.tokens < 0) await new Promise((resolve) => setTimeout(resolve, (-this.tokens / this.rate) * 1000));
    });
    this.queue = turn;
    return turn;
  }

  /** A pass-through stream that moves at the bucket's pace. */
  stream(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _encoding, callback: TransformCallback) => {
        this.take(chunk.length).then(
          () => callback(null, chunk),
          (error: unknown) => callback(error as Error),
        );
      },
    });
  }
}
