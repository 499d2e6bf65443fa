import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { packBlobName } from '@ferry/packing';
import { BlobStore } from '@ferry/storage';

/**
 * A range of one pack fetched by one ranged request: its bytes (kept, or still coming) when it was
 * fetched ahead, or only where it lay, which tells whether the next read continues it.
 */
interface Span {
  key: string;
  start: number;
  end: number;
  bytes?: Promise<Buffer>;
}

/** Ranges remembered without their bytes, at most: enough to follow thousands of restores at once. */
const MAX_SPANS = 4096;

/**
 * Fetches byte ranges of packs for reads, with read-ahead for reads that go through a pack in order.
 *
 * A restore reads objects mostly in the order they were written, and the worker packs them in
 * that order: small objects sit next to each other in a pack, and a large object's frames follow
 * one another. Fetching each object's frames alone costs one Blob request per object (Azure bills
 * per request; Azurite here spent ~5 ms of CPU on each). So when a range starts where a range of the
 * same pack fetched earlier ends (or inside it), the fetch reaches `aheadBytes` further, and what
 * it brought is kept, up to `cacheBytes` in all, least recently used first out, for the reads that
 * follow. A first or random read fetches only its own range and keeps nothing but where it lay.
 * Concurrent reads of a range share one request. Packs never change once written, so kept bytes
 * cannot go stale, and every frame is authenticated when decoded anyway.
 */
@Injectable()
export class PackFetcher {
  /** Remembered spans by pack (`container/pack`), in the order fetched. */
  private readonly byPack = new Map<string, Span[]>();
  /** Every remembered span, least recently used first. */
  private readonly recent = new Set<Span>();
  private keptBytes = 0;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly blobs: BlobStore,
  ) {}

  /** `length` bytes of the pack from `start`, in a buffer of their own (it may move to a thread). */
  async read(container: string, packId: string, packSize: number, start: number, length: number): Promise<Buffer> {
    const key = `${container}/${packId}`;
    const end = start + length;
    const spans = this.byPack.get(key) ?? [];
    const covering = spans.find((span) => span.bytes && span.start <= start && end <= span.end);
    if (covering?.bytes) {
      this.touch(covering);
      const bytes = await covering.bytes;
      return Buffer.from(bytes.subarray(start - covering.start, end - covering.start));
    }
    const { aheadBytes, cacheBytes } = this.config.read;
    const ahead = Math.min(packSize, start + aheadBytes);
    const continues = spans.some((span) => span.start < start && start <= span.end);
    if (!continues || ahead <= end || ahead - start > cacheBytes) {
      // this range alone, handed over as fetched
      this.remember({ key, start, end });
      return this.fetch(container, packId, start, length);
    }
    const span: Span = { key, start, end: ahead };
    const bytes = this.fetch(container, packId, start, ahead - start);
    span.bytes = bytes;
    this.remember(span);
    try {
      return Buffer.from((await bytes).subarray(0, length));
    } catch (error) {
      this.forget(span);
      throw error;
    }
  }

  /** Pack bytes kept now (fetched ahead, or being fetched), for tests and metrics. */
  get cachedBytes(): number {
    return this.keptBytes;
  }

  private fetch(container: string, packId: string, start: number, length: number): Promise<Buffer> {
    return this.blobs.readRange(container, packBlobName(packId), start, length);
  }

  private remember(span: Span): void {
    const spans = this.byPack.get(span.key) ?? [];
    spans.push(span);
    this.byPack.set(span.key, spans);
    this.recent.add(span);
    if (span.bytes) this.keptBytes += span.end - span.start;
    for (const oldest of this.recent) {
      if (this.keptBytes <= this.config.read.cacheBytes && this.recent.size <= MAX_SPANS) break;
      if (oldest !== span) this.forget(oldest);
    }
  }

  private touch(span: Span): void {
    this.recent.delete(span);
    this.recent.add(span);
  }

  private forget(span: Span): void {
    if (!this.recent.delete(span)) return;
    if (span.bytes) this.keptBytes -= span.end - span.start;
    const spans = (this.byPack.get(span.key) ?? []).filter((other) => other !== span);
    if (spans.length > 0) this.byPack.set(span.key, spans);
    else this.byPack.delete(span.key);
  }
}
