import { ChunkCodec, FRAME_OVERHEAD, type EncodedChunk } from './chunk-frame.js';
import {
  encodePackHeader,
  encodePackIndex,
  encodePackTrailer,
  PACK_HEADER_BYTES,
  type CatalogEvent,
  type PackChunkEntry,
} from './pack-format.js';

/**
 * Collects encoded chunk frames for one pack and lays them out as docs/format.md says. seal() returns
 * the pieces in order, so a 32 MiB pack goes to Blob without one big concat.
 *
 * Without an arena it copies nothing: it keeps the frames it is given, and the caller must leave
 * them alone until the pack is written. With an arena (memory the caller reuses from pack to pack),
 * append() copies each frame into it, so the caller may reuse a frame's memory as soon as append()
 * returns; a frame that no longer fits goes into memory of its own. The arena is in use until the
 * pack is written.
 *
 * Frames appended with a group (the object they belong to) are laid out together, each group's in
 * the order appended: a worker repacks many objects at once, and a restore of one of them then reads
 * one run of frames rather than pieces scattered among the others. Groups are laid out by the order
 * they were given (the worker gives each object's upload time), so a restore that reads objects in
 * the order they were written goes through the pack in order, whichever of them the worker finished
 * first; groups given none, and then frames of no group, follow in the order they first appeared.
 */
export class PackBuilder {
  private readonly header: Buffer;
  private readonly appended: { entry: PackChunkEntry; frame: Buffer; group: unknown; order: number }[] = [];
  private offset = PACK_HEADER_BYTES;
  private sealed = false;
  private arena?: Buffer;
  private arenaUsed = 0;

  constructor(
    readonly packId: string,
    readonly tenantId: string,
    readonly keyNumber: number,
    /** Called once, at the first frame, for the memory to copy frames into (see above). */
    private readonly arenaOf?: () => Buffer,
  ) {
    // encoded now so that a bad pack id or key number fails before any chunk is queued for this pack
    this.header = encodePackHeader(packId, keyNumber);
  }

  /**
   * Adds a frame, with the frames of `group` when given, that group placed by `order` (its first
   * frame's counts); the entry says where it will be in the pack (what the catalog's `chunks` row
   * records): final once the pack is sealed, since grouping may move it.
   */
  append(chunk: EncodedChunk, group?: string, order = Infinity): PackChunkEntry {
    if (this.sealed) throw new Error(`pack ${this.packId} is sealed`);
    const frameLength = chunk.frame.length;
    if (frameLength < FRAME_OVERHEAD) throw new RangeError(`frame of ${frameLength} bytes is shorter than nonce and tag`);
    if (chunk.codec === ChunkCodec.Stored && frameLength !== chunk.plainLength + FRAME_OVERHEAD) {
      throw new RangeError(`stored frame of ${frameLength} bytes for ${chunk.plainLength} bytes of plaintext`);
    }
    const entry: PackChunkEntry = { id: chunk.id, offset: this.offset, frameLength, plainLength: chunk.plainLength, codec: chunk.codec };
    // an ungrouped frame is a group of its own, after every group
    this.appended.push({ entry, frame: this.keep(chunk.frame), group: group ?? Symbol(), order });
    this.offset += frameLength;
    return entry;
  }

  /** The frame as this builder holds it: a copy in the arena (or of its own) when there is an arena. */
  private keep(frame: Buffer): Buffer {
    if (!this.arenaOf) return frame;
    this.arena ??= this.arenaOf();
    if (this.arenaUsed + frame.length > this.arena.length) return Buffer.from(frame);
    const kept = this.arena.subarray(this.arenaUsed, this.arenaUsed + frame.length);
    frame.copy(kept);
    this.arenaUsed += frame.length;
    return kept;
  }

  /** Bytes so far, header included; seal() adds the index frame and the trailer. */
  get size(): number {
    return this.offset;
  }

  get chunkCount(): number {
    return this.appended.length;
  }

  /**
   * The whole pack as buffers in order: header, frames (grouped), index frame, trailer. The entries
   * append() returned now hold their frames' final offsets.
   */
  seal(dataKey: Buffer, events: CatalogEvent[], createdAt = new Date()): Buffer[] {
    if (this.sealed) throw new Error(`pack ${this.packId} is sealed`);
    const groups = new Map<unknown, PackBuilder['appended']>();
    for (const item of this.appended) {
      const group = groups.get(item.group);
      if (group) group.push(item);
      else groups.set(item.group, [item]);
    }
    // a stable sort: equal orders keep the order of first appearance
    const laidOut = [...groups.values()].sort(([a], [b]) => rank(a) - rank(b) || (rank(a) === 0 ? a.order - b.order : 0)).flat();
    let offset = PACK_HEADER_BYTES;
    for (const { entry } of laidOut) {
      entry.offset = offset;
      offset += entry.frameLength;
    }
    const entries = laidOut.map((item) => item.entry);
    const index = encodePackIndex(
      dataKey,
      { version: 1, packId: this.packId, tenantId: this.tenantId, createdAt: createdAt.toISOString(), chunks: entries, events },
      this.keyNumber,
    );
    const trailer = encodePackTrailer({ indexOffset: this.offset, indexLength: index.length, keyNumber: this.keyNumber });
    // only now: a seal that threw (a bad key, say) leaves the builder usable
    this.sealed = true;
    return [this.header, ...laidOut.map((item) => item.frame), index, trailer];
  }
}

/** Groups given an order come first (by it), then groups given none, then frames of no group. */
function rank(item: { group: unknown; order: number }): number {
  if (typeof item.group === 'symbol') return 2;
  return item.order === Infinity ? 1 : 0;
}
