import { Inject, Injectable } from '@nestjs/common';
import type { SlabPool } from '@ferry/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { packBlobName } from '@ferry/packing';
import { BlobStore } from '@ferry/storage';
import { ReadSlabs } from './read.slabs.js';

/** Bytes of a pack, valid until `release` (called once the reader is done with them). */
export interface PackBytes {
  bytes: Buffer;
  release(): void;
}

/**
 * A range of one pack fetched by one ranged request: its bytes (kept, or still coming) when it was
 * fetched ahead, or only where it lay, which tells whether the next read continues it.
 */
interface Span {
  key: string;
  start: number;
  end: number;
  bytes?: Promise<Buffer>;
  /** The slab the bytes are fetched into (none when they are more than a slab holds), and its pool. */
  slab?: { pool: SlabPool; buffer: Buffer };
  /** Readers using the bytes now; the slab goes back only when none is, the fetch is over and the span is forgotten. */
  readers: number;
  fetching: boolean;
  forgotten: boolean;
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
 * follow. A first read fetches only its own range and keeps nothing but where it lay; a second
 * read in the same aligned block of the pack, out of order, fetches the rest of the block (nearBlock).
 * Concurrent reads of a range share one request. Packs never change once written, so kept bytes
 * cannot go stale, and every frame is authenticated when decoded anyway.
 *
 * Bytes are fetched into the gateway's read slabs (ReadSlabs) and handed out as views, not copies:
 * a reader holds a span's slab until it releases what it read.
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
    private readonly slabs: ReadSlabs,
  ) {}

  /**
   * `length` bytes of the pack from `start`; release them when done. `reach`: how far into the pack
   * the reader knows it will go in order (the end of the object's frames that follow in this pack):
   * a first read reads ahead that far at once, never further (up to `aheadBytes`).
   */
  async read(container: string, packId: string, packSize: number, start: number, length: number, reach = start + length): Promise<PackBytes> {
    const key = `${container}/${packId}`;
    const end = start + length;
    const spans = this.byPack.get(key) ?? [];
    const covering = spans.find((span) => span.bytes && span.start <= start && end <= span.end);
    if (covering?.bytes) {
      this.touch(covering);
      return this.view(covering, start, length);
    }
    const { aheadBytes, cacheBytes } = this.config.read;
    const continues = spans.some((span) => span.start < start && start <= span.end);
    // Bytes kept (or coming) further on are not fetched again: the reach stops where they start, and
    // a range that runs into them is fetched alone. Restores run several GETs at once, and one
    // reader's read-ahead ran into what another's had just fetched: a third of a cold pass's bytes
    // were fetched twice.
    const keptFurther = Math.min(...spans.filter((span) => span.bytes && span.start > start).map((span) => span.start));
    let from = start;
    let ahead = Math.min(packSize, start + aheadBytes, continues ? Infinity : reach, keptFurther);
    if (ahead <= end) [from, ahead] = this.nearBlock(spans, start, end, packSize, keptFurther) ?? [start, ahead];
    if (ahead <= end || ahead - from > cacheBytes) {
      // this range alone, handed over as fetched
      this.remember({ key, start, end, readers: 0, fetching: false, forgotten: false });
      const pool = this.slabs.sized(length);
      const slab = pool?.take();
      try {
        const bytes = await this.blobs.readRange(container, packBlobName(packId), start, length, slab);
        return { bytes, release: once(() => slab && pool!.settle(slab)) };
      } catch (error) {
        if (slab) pool!.settle(slab);
        throw error;
      }
    }
    const pool = this.slabs.sized(ahead - from);
    const slab = pool ? { pool, buffer: pool.take() } : undefined;
    const span: Span = { key, start: from, end: ahead, slab, readers: 0, fetching: true, forgotten: false };
    span.bytes = this.blobs.readRange(container, packBlobName(packId), from, ahead - from, slab?.buffer);
    span.bytes.then(
      () => this.fetched(span),
      () => (this.forget(span), this.fetched(span)),
    );
    this.remember(span);
    return this.view(span, start, length);
  }

  /**
   * The part of the pack's `aheadBytes`-aligned block around a read that no kept bytes hold, when
   * another read of that block was fetched alone before: several restores at once of objects that
   * were written at the same time read here and there in one part of a pack (each GET starts on
   * its own, and they finish out of order), and none of those reads continues another. The block
   * then comes in one request, instead of a small one per object (Azurite spent several
   * milliseconds of CPU on each request, whatever its size). None for a first read of the block,
   * or a read that crosses the block's end or runs into kept bytes.
   */
  private nearBlock(spans: Span[], start: number, end: number, packSize: number, keptFurther: number): [number, number] | undefined {
    const { aheadBytes } = this.config.read;
    if (aheadBytes === 0) return undefined;
    const blockStart = start - (start % aheadBytes);
    const blockEnd = Math.min(packSize, blockStart + aheadBytes);
    if (end > blockEnd || keptFurther < end) return undefined;
    if (!spans.some((span) => !span.bytes && span.start < blockEnd && span.end > blockStart)) return undefined;
    if (spans.some((span) => span.bytes && span.start < end && span.end > start)) return undefined;
    const keptBefore = Math.max(blockStart, ...spans.filter((span) => span.bytes && span.end <= start).map((span) => span.end));
    return [keptBefore, Math.min(blockEnd, keptFurther)];
  }

  /** Pack bytes kept now (fetched ahead, or being fetched), for tests and metrics. */
  get cachedBytes(): number {
    return this.keptBytes;
  }

  private async view(span: Span, start: number, length: number): Promise<PackBytes> {
    span.readers++;
    try {
      const bytes = await span.bytes!;
      return { bytes: bytes.subarray(start - span.start, start - span.start + length), release: once(() => this.unpin(span)) };
    } catch (error) {
      this.unpin(span);
      throw error;
    }
  }

  private fetched(span: Span): void {
    span.fetching = false;
    this.freeIfUnused(span);
  }

  private unpin(span: Span): void {
    span.readers--;
    this.freeIfUnused(span);
  }

  private freeIfUnused(span: Span): void {
    if (!span.slab || !span.forgotten || span.fetching || span.readers > 0) return;
    span.slab.pool.settle(span.slab.buffer);
    span.slab = undefined;
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
    span.forgotten = true;
    this.freeIfUnused(span);
    if (span.bytes) this.keptBytes -= span.end - span.start;
    const spans = (this.byPack.get(span.key) ?? []).filter((other) => other !== span);
    if (spans.length > 0) this.byPack.set(span.key, spans);
    else this.byPack.delete(span.key);
  }
}

function once(action: () => unknown): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    action();
  };
}
