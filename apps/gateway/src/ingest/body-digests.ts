import { createHasher, type DigestAlgorithm, type Hasher, type HashPool, type HashSession, type PooledAlgorithm } from '@ferry/s3';
import { BodyMeter } from './body-meter.js';

const POOLED = new Set<DigestAlgorithm>(['MD5', 'SHA1', 'SHA256']);

/**
 * The digests one body needs (MD5 for the ETag, SHA-256 for a signed payload, the client's
 * checksum): MD5 and SHA on the hash pool's worker threads, CRCs inline (they are cheap).
 */
export class BodyDigests {
  private readonly pooled: PooledAlgorithm[];
  private readonly inline: Map<DigestAlgorithm, Hasher>;
  private readonly session?: HashSession;

  constructor(pool: HashPool, algorithms: DigestAlgorithm[]) {
    const wanted = [...new Set(algorithms)];
    this.pooled = wanted.filter((algorithm): algorithm is PooledAlgorithm => POOLED.has(algorithm));
    this.inline = new Map(wanted.filter((algorithm) => !POOLED.has(algorithm)).map((algorithm) => [algorithm, createHasher(algorithm)]));
    if (this.pooled.length > 0) this.session = pool.session(this.pooled);
  }

  meter(limit: { declared?: number; max: number }): BodyMeter {
    return new BodyMeter([...this.inline.values()], limit, this.session);
  }

  async result(): Promise<Map<DigestAlgorithm, Buffer>> {
    const digests = new Map<DigestAlgorithm, Buffer>();
    const pooled = this.session ? await this.session.digest() : [];
    this.pooled.forEach((algorithm, index) => digests.set(algorithm, pooled[index]));
    for (const [algorithm, hasher] of this.inline) digests.set(algorithm, hasher.digest());
    return digests;
  }

  /** The body failed: let the worker forget this session. */
  abandon(): void {
    this.session?.close();
  }
}
