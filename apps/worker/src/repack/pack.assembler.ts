import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { SlabPool, type Logger } from '@ferry/common';
import { PacksRepository } from '@ferry/catalog';
import {
  DEFAULT_CHUNKING,
  FRAME_OVERHEAD,
  PackBuilder,
  packBlobName,
  type CatalogEvent,
  type EncodedFrame,
  type PackChunkEntry,
  type TenantKeys,
} from '@ferry/packing';
import { BlobStore } from '@ferry/storage';
import { WORKER_LOGGER } from '../worker.tokens.js';

export interface PackTarget {
  tenantId: string;
  container: string;
  keys: TenantKeys;
}

interface OpenPack {
  builder: PackBuilder;
  placed: PackChunkEntry[];
  target: PackTarget;
  dataKey: Buffer;
  events: CatalogEvent[];
  committed: Promise<void>;
  settle: { resolve: () => void; reject: (error: unknown) => void };
  timer?: NodeJS.Timeout;
  /** Jobs that have added all they will to it and now wait for it. */
  waiters: number;
  /** The memory its frames are copied into, once it has one. */
  arena?: Buffer;
}

/** Packs being uploaded at once, across tenants: bounds the memory they hold. */
const MAX_UPLOADING = 3;
/** Open packs of all tenants together hold at most this many targets' worth; then the largest goes. */
const MAX_OPEN_TARGETS = 4;

/**
 * Gathers the frames of every object this worker is repacking into one open pack per tenant and
 * writes it as one blob when it reaches the target size, or when nothing has been added for the
 * linger time. Each caller gets a promise that settles when the pack holding its frames (or its
 * catalog event) is in Blob and recorded in Postgres: only then may an object be marked stored.
 */
@Injectable()
export class PackAssembler implements OnApplicationShutdown {
  private readonly open = new Map<string, OpenPack>();
  private uploading = 0;
  private readonly writing = new Set<Promise<void>>();
  private readonly roomWaiters: (() => void)[] = [];
  /** Jobs that have added all they will and wait for their packs. */
  private waiting = 0;
  /**
   * Each pack's frames are copied into memory reused from pack to pack: the frames come from encode
   * slabs, and a pack's worth of new memory for every pack made V8 run a full collection every few
   * dozen MiB (docs/benchmarks.md). A pack is sealed once it reaches the target size, so it holds at
   * most the target plus one frame of the largest chunk; one kept free for each pack uploading.
   */
  private readonly arenas: SlabPool;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly packs: PacksRepository,
    private readonly blobs: BlobStore,
  ) {
    this.arenas = new SlabPool(config.packing.targetBytes + DEFAULT_CHUNKING.maxSize + FRAME_OVERHEAD, MAX_UPLOADING);
  }

  /** Resolves when fewer than MAX_UPLOADING packs are in flight: callers wait before encoding more. */
  async room(): Promise<void> {
    while (this.uploading >= MAX_UPLOADING) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  /**
   * Appends frames of one object to the tenant's open pack, copying them: their memory may be reused
   * once this returns. In the pack they are laid out with the object's other frames there, and the
   * objects by `uploadedAt` (PackBuilder). The promises settle once they are durable.
   */
  append(target: PackTarget, objectId: string, uploadedAt: Date, frames: EncodedFrame[]): Promise<void>[] {
    const settled = new Set<Promise<void>>();
    for (const frame of frames) {
      const pack = this.packFor(target);
      const chunk = { id: toBuffer(frame.id), frame: toBuffer(frame.frame), plainLength: frame.plainLength, codec: frame.codec };
      pack.placed.push(pack.builder.append(chunk, objectId, uploadedAt.getTime()));
      settled.add(pack.committed);
      if (pack.builder.size >= this.config.packing.targetBytes) this.seal(pack);
      else this.linger(pack);
    }
    this.bound();
    return [...settled];
  }

  /** Adds a catalog event to the tenant's open pack: it reaches the container with the pack. */
  record(target: PackTarget, ...events: CatalogEvent[]): Promise<void> {
    const pack = this.packFor(target);
    pack.events.push(...events);
    this.linger(pack);
    return pack.committed;
  }

  /**
   * A job waits for the packs holding its frames and event. A pack that half the worker's job slots
   * wait for is sealed at once, even below the target size, so that its upload runs while the other
   * half of the slots cut and encode into the next pack. When packs were sealed early only once every
   * slot waited, the jobs moved in lockstep waves: the threads idled through each upload, and each
   * wave paid Blob's latency (docs/benchmarks.md, tenth session). When every slot waits, everything
   * open is sealed: nothing more can be added to any open pack until one is written.
   */
  async awaitPacks(pending: Promise<void>[]): Promise<void> {
    const concurrency = this.config.forward.concurrency;
    const held = [...this.open.values()].filter((pack) => pending.includes(pack.committed));
    this.waiting++;
    for (const pack of held) pack.waiters++;
    try {
      if (this.waiting >= concurrency) for (const pack of [...this.open.values()]) this.seal(pack);
      else for (const pack of held) if (pack.waiters >= Math.ceil(concurrency / 2)) this.seal(pack);
      await Promise.all(pending);
    } finally {
      this.waiting--;
      // a pack that failed ends the wait early: its other waiters must not seal the next pack early
      for (const pack of held) pack.waiters--;
    }
  }

  /** Writes what is still open and waits for every write, before the catalog connection closes. */
  async onApplicationShutdown(): Promise<void> {
    for (const pack of [...this.open.values()]) this.seal(pack);
    await Promise.allSettled([...this.writing]);
  }

  /** Many tenants writing at once: the largest open pack is written early, so memory stays bounded. */
  private bound(): void {
    let open = 0;
    for (const pack of this.open.values()) open += pack.builder.size;
    while (open > MAX_OPEN_TARGETS * this.config.packing.targetBytes) {
      const largest = [...this.open.values()].reduce((a, b) => (a.builder.size >= b.builder.size ? a : b));
      open -= largest.builder.size;
      this.seal(largest);
    }
  }

  private packFor(target: PackTarget): OpenPack {
    const current = this.open.get(target.tenantId);
    if (current && current.builder.keyNumber === target.keys.current.number) return current;
    if (current) this.seal(current);
    let settle!: OpenPack['settle'];
    const committed = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    // a pack nobody awaits any more (all its jobs failed) must not crash the process
    committed.catch(() => undefined);
    const pack: OpenPack = {
      builder: new PackBuilder(randomUUID(), target.tenantId, target.keys.current.number, () => (pack.arena = this.arenas.take())),
      placed: [],
      target,
      dataKey: target.keys.current.key,
      events: [],
      committed,
      settle,
      waiters: 0,
    };
    this.open.set(target.tenantId, pack);
    return pack;
  }

  private linger(pack: OpenPack): void {
    clearTimeout(pack.timer);
    pack.timer = setTimeout(() => this.seal(pack), this.config.packing.lingerMs);
  }

  private seal(pack: OpenPack): void {
    clearTimeout(pack.timer);
    if (this.open.get(pack.target.tenantId) !== pack) return;
    this.open.delete(pack.target.tenantId);
    this.uploading++;
    const writing = this.write(pack).then(pack.settle.resolve, (error: unknown) => {
      this.logger.warn({ tenantId: pack.target.tenantId, packId: pack.builder.packId, err: error }, 'pack upload failed; its objects will be retried');
      pack.settle.reject(error);
    });
    this.writing.add(writing);
    void writing.finally(() => this.writing.delete(writing));
  }

  private async write(pack: OpenPack): Promise<void> {
    const { builder, target } = pack;
    try {
      const entries = pack.placed;
      const buffers = builder.seal(pack.dataKey, pack.events);
      const size = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
      await this.packs.beginPack(target.tenantId, {
        id: builder.packId,
        keyNumber: builder.keyNumber,
        size,
        chunkCount: entries.length,
        eventCount: pack.events.length,
      });
      await this.blobs.putBuffers(target.container, packBlobName(builder.packId), buffers);
      await this.packs.commitPack(target.tenantId, {
        id: builder.packId,
        keyNumber: builder.keyNumber,
        size,
        chunks: entries.map((entry) => ({ id: entry.id, frameOffset: entry.offset, frameLength: entry.frameLength, codec: entry.codec })),
      });
      this.logger.debug({ tenantId: target.tenantId, packId: builder.packId, bytes: size, chunks: entries.length, events: pack.events.length }, 'pack written');
      // only after a write that succeeded: a failed one may have left its bytes with a socket
      if (pack.arena) this.arenas.settle(pack.arena);
    } finally {
      this.uploading--;
      this.roomWaiters.splice(0).forEach((wake) => wake());
    }
  }
}

/** A frame that came back from a worker thread as a plain Uint8Array. */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
