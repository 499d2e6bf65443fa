import { FRAME_OVERHEAD, PackIntegrityError } from './chunk-frame.js';
import {
  canonicalPackId,
  decodePackHeader,
  decodePackIndex,
  decodePackTrailer,
  PACK_HEADER_BYTES,
  PACK_TRAILER_BYTES,
  type PackChunkEntry,
  type PackIndex,
} from './pack-format.js';

/** Random access to a pack's bytes (a ranged Get Blob, a file, a buffer); must return exactly `length` bytes. */
export type ReadRange = (offset: number, length: number) => Promise<Buffer>;

/**
 * The pack's last bytes are read in one request large enough to hold the trailer and, usually, the
 * index too: a ranged read of 64 KiB costs about what one of 32 bytes does, and saves a round trip.
 */
export const TAIL_READ_BYTES = 64 * 1024;

const MIN_PACK_BYTES = PACK_HEADER_BYTES + FRAME_OVERHEAD + PACK_TRAILER_BYTES;

async function readExactly(read: ReadRange, offset: number, length: number): Promise<Buffer> {
  const bytes = await read(offset, length);
  if (bytes.length !== length) throw new PackIntegrityError(`read of ${length} bytes at ${offset} returned ${bytes.length}`);
  return bytes;
}

/**
 * Reads and authenticates a pack's index: trailer, header and index frame must agree with each other,
 * with `size` and with `packId`, or this throws PackIntegrityError before any key is asked for.
 */
export async function readPackIndex(
  read: ReadRange,
  size: number,
  keyFor: (keyNumber: number) => Promise<Buffer>,
  packId: string,
): Promise<{ keyNumber: number; index: PackIndex }> {
  const expectedId = canonicalPackId(packId);
  if (!Number.isSafeInteger(size) || size < MIN_PACK_BYTES) throw new PackIntegrityError(`pack ${packId}: ${size} bytes is too small for a pack`);
  const tailStart = Math.max(0, size - TAIL_READ_BYTES);
  const [tail, headBytes] = await Promise.all([
    readExactly(read, tailStart, size - tailStart),
    tailStart === 0 ? undefined : readExactly(read, 0, PACK_HEADER_BYTES),
  ]);
  const header = decodePackHeader(headBytes ?? tail.subarray(0, PACK_HEADER_BYTES));
  if (header.packId !== expectedId) throw new PackIntegrityError(`pack ${packId}: header names pack ${header.packId}`);
  const trailer = decodePackTrailer(tail.subarray(tail.length - PACK_TRAILER_BYTES));
  if (trailer.keyNumber !== header.keyNumber) {
    throw new PackIntegrityError(`pack ${packId}: header names data key ${header.keyNumber}, trailer ${trailer.keyNumber}`);
  }
  const indexEnd = size - PACK_TRAILER_BYTES;
  if (trailer.indexOffset + trailer.indexLength !== indexEnd) {
    throw new PackIntegrityError(`pack ${packId}: index at ${trailer.indexOffset}+${trailer.indexLength} does not end at the trailer (${indexEnd})`);
  }
  const frame =
    trailer.indexOffset >= tailStart
      ? tail.subarray(trailer.indexOffset - tailStart, indexEnd - tailStart)
      : await readExactly(read, trailer.indexOffset, trailer.indexLength);
  const index = decodePackIndex(await keyFor(trailer.keyNumber), expectedId, trailer.keyNumber, frame);
  checkPlaces(packId, index.chunks, trailer.indexOffset);
  return { keyNumber: trailer.keyNumber, index };
}

/** Frames must lie between header and index without overlapping: catches a writer's bug, not an attack. */
function checkPlaces(packId: string, entries: PackChunkEntry[], indexOffset: number): void {
  let end = PACK_HEADER_BYTES;
  for (const entry of entries) {
    if (entry.offset < end || entry.frameLength < FRAME_OVERHEAD || entry.offset + entry.frameLength > indexOffset) {
      throw new PackIntegrityError(`pack ${packId}: chunk frame at ${entry.offset}+${entry.frameLength} is out of place`);
    }
    end = entry.offset + entry.frameLength;
  }
}

/** Each entry's frame, as views of a buffer holding the whole pack (or a range of it starting at `base`). */
export function sliceFrames(packBytes: Buffer, entries: PackChunkEntry[], base = 0): Buffer[] {
  return entries.map((entry) => {
    const start = entry.offset - base;
    if (start < 0 || start + entry.frameLength > packBytes.length) {
      throw new PackIntegrityError(`chunk frame at ${entry.offset}+${entry.frameLength} is outside the ${packBytes.length} bytes read at ${base}`);
    }
    return packBytes.subarray(start, start + entry.frameLength);
  });
}
