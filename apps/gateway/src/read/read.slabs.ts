import { Injectable } from '@nestjs/common';
import { SlabPool } from '@ferry/common';
import { FILE_READ_BYTES } from '@ferry/storage';

/**
 * Most bytes fetched from a pack in one ranged request (adjacent frames are read together), and most
 * plaintext those frames may hold: what one fetch of a read holds in memory, twice over with the
 * one fetched ahead.
 */
export const FETCH_BYTES = 8 * 1024 * 1024;

/**
 * The gateway's reusable read buffers (SlabPool says why): the frames and the plaintext of each fetch
 * from a pack, and spool file reads, in slabs of two sizes so that the many small reads of small
 * objects do not each hold 8 MiB. Each pool keeps enough free slabs for a steady stream of reads to
 * take one back as soon as another is handed back: at most 32 + 64 MiB in all.
 */
@Injectable()
export class ReadSlabs {
  // aligned: spool files are read with O_DIRECT where the filesystem takes it
  readonly small = new SlabPool(FILE_READ_BYTES, 32, Infinity, true);
  readonly large = new SlabPool(FETCH_BYTES, 8);

  /** The pool whose slabs hold `bytes`, if any does. */
  sized(bytes: number): SlabPool | undefined {
    if (bytes <= this.small.slabBytes) return this.small;
    if (bytes <= this.large.slabBytes) return this.large;
    return undefined;
  }
}
