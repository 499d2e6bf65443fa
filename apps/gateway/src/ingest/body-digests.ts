import { createHasher, type DigestAlgorithm, type Hasher, type HashPool, type HashSession, type PooledAlgorithm } from '@ferry/s3';

const POOLED = new Set<DigestAlgorithm>(['MD5', 'SHA1', 'SHA256']);

/**
 * The digests one body needs (MD5 for the ETag, SHA-256 for a signed payload, the client's
 * checksum): MD5 and SHA on the hash pool's worker threads, CRCs inline (they are cheap).
 */
export class BodyDigests {
  private readonly pooled: PooledAlgorithm[];
  private readonly inlineHashers: Hasher[];
  private readonly inlineByName: Map<DigestAlgorithm, Hasher>;
  private readonly session?: HashSession;

  constructor(
    private readonly pool: HashPool,
    algorithms: DigestAlgorithm[],
  ) {
    const wanted = [...new Set(algorithms)];
    this.pooled = wanted.filter((algorithm): algorithm is PooledAlgorithm => POOLED.has(algorithm));
    this.inlineByName = new Map(wanted.filter((algorithm) => !POOLED.has(algorithm)).map((algorithm) => [algorithm, createHasher(algorithm)]));
    this.inlineHashers = [...this.inlineByName.values()];
    if (this.pooled.length > 0) this.session = pool.session(this.pooled);
  }

  /** Every chunk as it arrives, for the inline checksums. */
  inline(chunk: Buffer): void {
    for (const hasher of this.inlineHashers) hasher.update(chunk);
  }

  takeBuffer(): Promise<Buffer> {
    return this.pool.takeBuffer();
  }

  /** A filled buffer, after it has been written: it goes to the worker (or straight back to the pool). */
  submit(buffer: Buffer, length: number): Promise<void> | undefined {
    if (!this.session) {
      this.pool.releaseBuffer(buffer);
      return undefined;
    }
    return this.session.submit(buffer, length);
  }

  release(buffer: Buffer): void {
    this.pool.releaseBuffer(buffer);
  }

  async result(): Promise<Map<DigestAlgorithm, Buffer>> {
    const digests = new Map<DigestAlgorithm, Buffer>();
    const pooled = this.session ? await this.session.digest() : [];
    this.pooled.forEach((algorithm, index) => digests.set(algorithm, pooled[index]));
    for (const [algorithm, hasher] of this.inlineByName) digests.set(algorithm, hasher.digest());
    return digests;
  }

  /** The body failed: let the worker forget this session. */
  abandon(): void {
    this.session?.close();
  }
}
