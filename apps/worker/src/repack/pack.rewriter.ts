import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { PacksRepository, ObjectsRepository, type StoredPack } from '@ferry/catalog';
import {
  chunkIdOf,
  compactEvents,
  decodeChunk,
  packBlobName,
  PackBuilder,
  readPackIndex,
  type CatalogEvent,
  type EncodedChunk,
  type PackChunkEntry,
  type TenantKeys,
} from '@ferry/packing';
import { BlobStore } from '@ferry/storage';

export interface PackCheck {
  /** The pack's bytes, read once. */
  bytes: Buffer;
  /** The pack's own index, or why it could not be read. */
  index: { events: CatalogEvent[] } | { error: string };
  /** Catalog chunks of the pack whose frame authenticates and whose plaintext hashes to its id. */
  sound: { id: Buffer; frame: Buffer; plainLength: number; codec: number }[];
  /** Catalog chunks of the pack that fail, with the reason. */
  damaged: { id: Buffer; reason: string }[];
}

export interface TenantRef {
  id: string;
  container: string;
}

/**
 * Reads a pack whole and checks it against the catalog (verify), and writes the chunks worth keeping
 * into a new pack of the same data key (prune, repair). Frames move byte for byte: their associated
 * data does not name the pack (docs/format.md). The old pack's catalog events move with them.
 */
@Injectable()
export class PackRewriter {
  constructor(
    private readonly packs: PacksRepository,
    private readonly objects: ObjectsRepository,
    private readonly blobs: BlobStore,
  ) {}

  async check(tenant: TenantRef, keys: TenantKeys, pack: StoredPack): Promise<PackCheck> {
    const bytes = await this.blobs.readRange(tenant.container, packBlobName(pack.id), 0, pack.size);
    const dataKey = keys.dataKey(pack.keyNumber);
    let index: PackCheck['index'];
    try {
      const read = await readPackIndex(async (offset, length) => bytes.subarray(offset, offset + length), bytes.length, async () => dataKey, pack.id);
      index = { events: read.index.events };
    } catch (error) {
      index = { error: (error as Error).message };
    }
    const check: PackCheck = { bytes, index, sound: [], damaged: [] };
    for (const place of await this.packs.chunksInPack(tenant.id, pack.id)) {
      const frame = bytes.subarray(place.frameOffset, place.frameOffset + place.frameLength);
      try {
        if (frame.length !== place.frameLength) throw new Error('the frame runs past the end of the pack');
        const plain = decodeChunk(dataKey, place.id, place.codec, place.plainLength, frame);
        if (!chunkIdOf(keys.chunkIdKey, plain).equals(place.id)) throw new Error('the plaintext does not hash to the chunk id');
        check.sound.push({ id: place.id, frame, plainLength: place.plainLength, codec: place.codec });
      } catch (error) {
        check.damaged.push({ id: place.id, reason: (error as Error).message });
      }
    }
    return check;
  }

  /**
   * Writes `keep` (sound frames, and frames re-encoded from a good copy) into a new pack with the old
   * pack's events still needed (compactEvents), then moves those chunks' places to it; the old pack is
   * retired once empty.
   */
  async rewrite(tenant: TenantRef, keys: TenantKeys, pack: StoredPack, keep: EncodedChunk[], carried: CatalogEvent[]): Promise<string | undefined> {
    const events = await this.compact(tenant.id, carried);
    if (keep.length === 0 && events.length === 0) {
      await this.packs.retireIfEmpty(tenant.id, pack.id);
      return undefined;
    }
    const builder = new PackBuilder(randomUUID(), tenant.id, pack.keyNumber);
    const placed: PackChunkEntry[] = keep.map((chunk) => builder.append(chunk));
    const buffers = builder.seal(keys.dataKey(pack.keyNumber), events);
    const size = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    const next = {
      id: builder.packId,
      keyNumber: pack.keyNumber,
      size,
      chunks: placed.map((entry) => ({ id: entry.id, frameOffset: entry.offset, frameLength: entry.frameLength, codec: entry.codec })),
    };
    await this.packs.beginPack(tenant.id, { ...next, chunkCount: placed.length, eventCount: events.length });
    await this.blobs.putBuffers(tenant.container, packBlobName(builder.packId), buffers);
    await this.packs.moveChunks(tenant.id, pack.id, next);
    return builder.packId;
  }

  /**
   * Merges packs of events only into one, written with the current data key: event packs pile up
   * (one per flush of deletes), and the container stays complete with fewer blobs. The events no
   * longer needed (compactEvents) are left behind, and when none is needed the packs are only
   * retired. A pack whose index fails is merged as nothing; the caller re-emits the whole catalog then.
   */
  async mergeEvents(tenant: TenantRef, keys: TenantKeys, packs: StoredPack[]): Promise<{ packId: string | undefined; damaged: string[] }> {
    const events = new Map<number, CatalogEvent>();
    const damaged: string[] = [];
    for (const pack of packs) {
      try {
        const { index } = await readPackIndex(
          (offset, length) => this.blobs.readRange(tenant.container, packBlobName(pack.id), offset, length),
          pack.size,
          async (number) => keys.dataKey(number),
          pack.id,
        );
        for (const event of index.events) events.set(event.seq, event);
      } catch {
        damaged.push(pack.id);
      }
    }
    const ordered = (await this.compact(tenant.id, [...events.values()])).sort((a, b) => a.seq - b.seq);
    if (ordered.length === 0) {
      // nothing any of them says is still needed: they go, and no pack takes their place
      await this.packs.replacePacks(tenant.id, undefined, packs.map((pack) => pack.id));
      return { packId: undefined, damaged };
    }
    const builder = new PackBuilder(randomUUID(), tenant.id, keys.current.number);
    const buffers = builder.seal(keys.current.key, ordered);
    const size = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    await this.packs.beginPack(tenant.id, { id: builder.packId, keyNumber: keys.current.number, size, chunkCount: 0, eventCount: ordered.length });
    await this.blobs.putBuffers(tenant.container, packBlobName(builder.packId), buffers);
    await this.packs.replacePacks(tenant.id, builder.packId, packs.map((pack) => pack.id));
    return { packId: builder.packId, damaged };
  }

  /** The events still worth carrying (compactEvents): puts of objects the catalog no longer holds go. */
  private async compact(tenantId: string, events: CatalogEvent[]): Promise<CatalogEvent[]> {
    const puts = events.flatMap((event) => (event.type === 'object.put' ? [event.objectId] : []));
    return compactEvents(events, await this.objects.existingIds(tenantId, [...new Set(puts)]));
  }
}
