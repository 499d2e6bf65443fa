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
 * Collects encoded chunk frames for one pack and lays them out as docs/format.md says. It copies
 * nothing: seal() returns the pieces in order, so a 32 MiB pack goes to Blob without one big concat.
 */
export class PackBuilder {
  private readonly header: Buffer;
  private readonly frames: Buffer[] = [];
  private readonly entries: PackChunkEntry[] = [];
  private offset = PACK_HEADER_BYTES;
  private sealed = false;

  constructor(
    readonly packId: string,
    readonly tenantId: string,
    readonly keyNumber: number,
  ) {
    // encoded now so that a bad pack id or key number fails before any chunk is queued for this pack
    this.header = encodePackHeader(packId, keyNumber);
  }

  /** Adds a frame; the entry says where it will be in the pack (what the catalog's `chunks` row records). */
  append(chunk: EncodedChunk): PackChunkEntry {
    if (this.sealed) throw new Error(`pack ${this.packId} is sealed`);
    const frameLength = chunk.frame.length;
    if (frameLength < FRAME_OVERHEAD) throw new RangeError(`frame of ${frameLength} bytes is shorter than nonce and tag`);
    if (chunk.codec === ChunkCodec.Stored && frameLength !== chunk.plainLength + FRAME_OVERHEAD) {
      throw new RangeError(`stored frame of ${frameLength} bytes for ${chunk.plainLength} bytes of plaintext`);
    }
    const entry: PackChunkEntry = { id: chunk.id, offset: this.offset, frameLength, plainLength: chunk.plainLength, codec: chunk.codec };
    this.frames.push(chunk.frame);
    this.entries.push(entry);
    this.offset += frameLength;
    return { ...entry };
  }

  /** Bytes so far, header included; seal() adds the index frame and the trailer. */
  get size(): number {
    return this.offset;
  }

  get chunkCount(): number {
    return this.entries.length;
  }

  /** The whole pack as buffers in order: header, frames as appended, index frame, trailer. */
  seal(dataKey: Buffer, events: CatalogEvent[], createdAt = new Date()): Buffer[] {
    if (this.sealed) throw new Error(`pack ${this.packId} is sealed`);
    const index = encodePackIndex(
      dataKey,
      { version: 1, packId: this.packId, tenantId: this.tenantId, createdAt: createdAt.toISOString(), chunks: this.entries, events },
      this.keyNumber,
    );
    const trailer = encodePackTrailer({ indexOffset: this.offset, indexLength: index.length, keyNumber: this.keyNumber });
    // only now: a seal that threw (a bad key, say) leaves the builder usable
    this.sealed = true;
    return [this.header, ...this.frames, index, trailer];
  }
}
