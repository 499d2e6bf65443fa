import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { ChunksRepository, type ManifestEntry } from '@ferry/catalog';
import { PackingPool, TenantKeyring, type TenantKeys } from '@ferry/packing';
import { PackFetcher } from './pack.fetcher.js';
import type { ByteRange } from './range.js';

/**
 * Most bytes fetched from a pack in one ranged request (adjacent frames are read together), and most
 * plaintext those frames may hold: what one fetch of a read holds in memory, twice over with the
 * one fetched ahead.
 */
const FETCH_BYTES = 8 * 1024 * 1024;

interface Fetch {
  packId: string;
  packSize: number;
  keyNumber: number;
  start: number;
  length: number;
  plainBytes: number;
  entries: ManifestEntry[];
}

/**
 * Reads a repacked object (docs/format.md): the manifest's entries that cover the range (found by
 * binary search on their offsets), only their frames, one fetch per run of adjacent frames in a pack
 * (PackFetcher may serve it from a range it fetched ahead), one fetch ahead of the one being decoded. Frames are authenticated, decrypted and
 * decompressed in the packing pool's threads, so the event loop only moves bytes. Every frame is
 * authenticated before a byte of it is sent; a frame that fails stops the stream with an error,
 * never with other bytes.
 */
@Injectable()
export class PackedReader {
  constructor(
    private readonly chunks: ChunksRepository,
    private readonly keyring: TenantKeyring,
    private readonly fetcher: PackFetcher,
    private readonly pool: PackingPool,
  ) {}

  async open(tenantId: string, container: string, objectId: string, size: number, range: ByteRange): Promise<Readable> {
    return this.stream(tenantId, container, await this.chunks.manifest(tenantId, objectId), size, range, `object ${objectId}`);
  }

  /** The whole of a copied part: its chunks (with where its bytes sit in each), looked up now. */
  async openChunks(tenantId: string, container: string, chunks: { id: Buffer; skip: number; length: number }[], size: number): Promise<Readable> {
    const places = await this.chunks.places(tenantId, chunks.map((chunk) => chunk.id));
    let offset = 0;
    const manifest: ManifestEntry[] = chunks.map((chunk) => {
      const place = places.get(chunk.id.toString('hex'));
      if (!place) throw new Error(`chunk ${chunk.id.toString('hex')} of a copied part has no pack`);
      const entry = { ...place, offset, length: chunk.length, skip: chunk.skip };
      offset += chunk.length;
      return entry;
    });
    return this.stream(tenantId, container, manifest, size, { start: 0, end: size - 1 }, 'copied part');
  }

  private async stream(tenantId: string, container: string, manifest: ManifestEntry[], size: number, range: ByteRange, what: string): Promise<Readable> {
    const covered = manifest.length === 0 ? 0 : manifest[manifest.length - 1].offset + manifest[manifest.length - 1].length;
    if (covered !== size) throw new Error(`${what}: its manifest covers ${covered} of ${size} bytes`);
    const fetches = planFetches(manifest, range);
    let keys = await this.keyring.forTenant(tenantId);
    if (fetches.some((fetch) => !hasKey(keys, fetch.keyNumber))) {
      // rotated by another process since this one cached the keys
      this.keyring.forget(tenantId);
      keys = await this.keyring.forTenant(tenantId);
    }
    const load = (fetch: Fetch) => this.fetcher.read(container, fetch.packId, fetch.packSize, fetch.start, fetch.length);
    const decode = async (fetch: Fetch, frames: Buffer): Promise<Buffer[]> => {
      const plain = await this.pool.decode({
        frames,
        dataKey: keys.dataKey(fetch.keyNumber),
        chunks: fetch.entries.map((entry) => ({
          id: entry.chunkId,
          codec: entry.codec,
          plainLength: entry.plainLength,
          at: entry.frameOffset - fetch.start,
          length: entry.frameLength,
        })),
      });
      // The entries' bytes follow one another in `plain`, each `skip` into its chunk (a ranged part
      // copy cut it); the range may start in the first and end in the last.
      const out: Buffer[] = [];
      let chunkStart = 0;
      let runStart = -1;
      let runEnd = -1;
      for (const entry of fetch.entries) {
        const from = chunkStart + entry.skip + Math.max(range.start, entry.offset) - entry.offset;
        const to = chunkStart + entry.skip + Math.min(range.end, entry.offset + entry.length - 1) - entry.offset + 1;
        if (from !== runEnd) {
          if (runEnd > runStart) out.push(plain.subarray(runStart, runEnd));
          runStart = from;
        }
        runEnd = to;
        chunkStart += entry.plainLength;
      }
      if (runEnd > runStart) out.push(plain.subarray(runStart, runEnd));
      return out;
    };
    // The first fetch is decoded before the response starts, so a damaged start becomes an error
    // status rather than a cut connection.
    const first = fetches.length > 0 ? await decode(fetches[0], await load(fetches[0])) : [];
    async function* bytes(): AsyncGenerator<Buffer> {
      let ahead = fetches.length > 1 ? load(fetches[1]) : undefined;
      ahead?.catch(() => undefined);
      yield* first;
      for (let i = 1; i < fetches.length; i++) {
        const loaded = await ahead!;
        ahead = i + 1 < fetches.length ? load(fetches[i + 1]) : undefined;
        ahead?.catch(() => undefined);
        yield* await decode(fetches[i], loaded);
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }
}

function hasKey(keys: TenantKeys, number: number): boolean {
  try {
    keys.dataKey(number);
    return true;
  } catch {
    return false;
  }
}

/** Index of the first entry whose bytes reach `position`. */
export function firstCovering(manifest: ManifestEntry[], position: number): number {
  let low = 0;
  let high = manifest.length - 1;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (manifest[middle].offset + manifest[middle].length <= position) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** The ranged requests that cover `range`: runs of adjacent frames of one pack, each at most FETCH_BYTES of frames and of plaintext. */
export function planFetches(manifest: ManifestEntry[], range: ByteRange): Fetch[] {
  const fetches: Fetch[] = [];
  if (range.end < range.start || manifest.length === 0) return fetches;
  for (let i = firstCovering(manifest, range.start); i < manifest.length && manifest[i].offset <= range.end; i++) {
    const entry = manifest[i];
    const last = fetches[fetches.length - 1];
    if (
      last &&
      last.packId === entry.packId &&
      last.start + last.length === entry.frameOffset &&
      last.length + entry.frameLength <= FETCH_BYTES &&
      last.plainBytes + entry.plainLength <= FETCH_BYTES
    ) {
      last.length += entry.frameLength;
      last.plainBytes += entry.plainLength;
      last.entries.push(entry);
    } else {
      fetches.push({
        packId: entry.packId,
        packSize: entry.packSize,
        keyNumber: entry.keyNumber,
        start: entry.frameOffset,
        length: entry.frameLength,
        plainBytes: entry.plainLength,
        entries: [entry],
      });
    }
  }
  return fetches;
}
