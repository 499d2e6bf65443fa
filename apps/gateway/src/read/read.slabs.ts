import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { SlabPool } from '@ferry/common';
import { FILE_READ_BYTES } from '@ferry/storage';

/**
 * Most bytes fetched from a pack in one ranged request (adjacent frames are read together), and most
 * plaintext those frames may hold: what one fetch of a read holds in memory, twice over with the
 * one fetched ahead.
 */
export const FETCH_BYTES = 8 * 1024 * 1024;

/**
 * Large slabs kept free beyond what the read-ahead cache holds: the fetches and plaintexts of the
 * reads in progress (eight concurrent cold restores of 64 MiB objects held up to 26 at once here).
 */
const LARGE_IN_FLIGHT = 32;
/** Free large slabs kept however long they go unused, and how long the others are kept unused. */
const LARGE_KEEP = 8;
const LARGE_DECAY_MS = 30_000;

/**
 * The gateway's reusable read buffers (SlabPool says why): the frames and the plaintext of each fetch
 * from a pack, and spool file reads, in slabs of two sizes so that the many small reads of small
 * objects do not each hold 8 MiB.
 *
 * The small pool keeps 32 free (32 MiB). The large pool keeps as many free as restores cycle
 * through: the slabs of the read-ahead cache (`FERRY_READ_CACHE_BYTES`) plus those of the reads in
 * flight, 64 with the defaults. Kept to 8, every burst of reads beyond that took new memory again:
 * a gateway serving cold restores of 64 MiB objects one after another took 11,500-29,400 new pages
 * per GiB, against 1,300-21,300 this way (its first restore takes about 120,000 either way). The
 * free slabs beyond 8 are let go once reads stop needing them (30 s), so a gateway that has stopped
 * restoring goes back to holding 8.
 */
@Injectable()
export class ReadSlabs {
  // aligned: spool files are read with O_DIRECT where the filesystem takes it
  readonly small = new SlabPool(FILE_READ_BYTES, 32, Infinity, true);
  readonly large: SlabPool;

  constructor(@Inject(FERRY_CONFIG) config: Pick<ResolvedConfig, 'read'>) {
    const maxIdle = Math.ceil(config.read.cacheBytes / FETCH_BYTES) + LARGE_IN_FLIGHT;
    this.large = new SlabPool(FETCH_BYTES, maxIdle, Infinity, false, { keep: LARGE_KEEP, afterMs: LARGE_DECAY_MS });
  }

  /** The pool whose slabs hold `bytes`, if any does. */
  sized(bytes: number): SlabPool | undefined {
    if (bytes <= this.small.slabBytes) return this.small;
    if (bytes <= this.large.slabBytes) return this.large;
    return undefined;
  }
}
