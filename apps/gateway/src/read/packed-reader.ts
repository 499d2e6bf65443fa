import { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import { ChunksRepository, type ManifestEntry } from '@ferry/catalog';
import { PackingPool, TenantKeyring, type TenantKeys } from '@ferry/packing';
import { Spool } from '@ferry/storage';
import type { Logger } from '@ferry/common';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';
import { PackFetcher } from './pack.fetcher.js';
import { FETCH_BYTES, ReadSlabs } from './read.slabs.js';
import type { ByteRange } from './range.js';

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
 * binary search on their offsets), one fetch per run of adjacent frames in a pack (PackFetcher may
 * serve it from a range it fetched ahead), one fetch ahead of the one being sent. Frames are
 * authenticated, decrypted and decompressed in the packing pool's threads, so the event loop only
 * moves bytes. A chunk that an object still in the recovery cache holds is read from that object's
 * spool files instead, once its keyed hash matches its id; when it does not (or the files are gone)
 * its frame is fetched as any other. Every frame is authenticated before a byte of it is sent; a
 * frame that fails stops the stream with an error, never with other bytes.
 */
@Injectable()
export class PackedReader {
  constructor(
    private readonly chunks: ChunksRepository,
    private readonly keyring: TenantKeyring,
    private readonly fetcher: PackFetcher,
    private readonly pool: PackingPool,
    private readonly spool: Spool,
    private readonly slabs: ReadSlabs,
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
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
    const reach = reaches(fetches);
    let keys = await this.keyring.forTenant(tenantId);
    if (fetches.some((fetch) => !hasKey(keys, fetch.keyNumber))) {
      // rotated by another process since this one cached the keys
      this.keyring.forget(tenantId);
      keys = await this.keyring.forTenant(tenantId);
    }
    // The frames are a view of a slab until decoded; the plaintext goes into a slab whose requested
    // bytes are lent to the reader.
    const fromPack = async (fetch: Fetch): Promise<Buffer[]> => {
      const frames = await this.fetcher.read(container, fetch.packId, fetch.packSize, fetch.start, fetch.length, reach.get(fetch));
      const plainSlabs = this.slabs.sized(fetch.plainBytes);
      const into = plainSlabs?.take().subarray(0, fetch.plainBytes);
      let plain: Buffer;
      try {
        plain = await this.pool.decode({
          frames: frames.bytes,
          dataKey: keys.dataKey(fetch.keyNumber),
          chunks: fetch.entries.map((entry) => ({
            id: entry.chunkId,
            codec: entry.codec,
            plainLength: entry.plainLength,
            at: entry.frameOffset - fetch.start,
            length: entry.frameLength,
          })),
          into,
        });
      } catch (error) {
        if (into) plainSlabs!.settle(into);
        throw error;
      } finally {
        frames.release();
      }
      if (!into) return slice(fetch, range, plain);
      const pieces = slice(fetch, range, plain).map((piece) => plainSlabs!.lend(piece));
      plainSlabs!.settle(into);
      return pieces;
    };
    const fromCache = async (fetch: Fetch): Promise<Buffer | undefined> => {
      const [entry] = fetch.entries;
      if (!entry.cached) return undefined;
      const pieces = entry.cached.spool.map((segment) => ({ path: this.spool.absolute(segment.path), size: segment.size }));
      try {
        return await this.pool.readCached({ pieces, offset: entry.cached.at, length: entry.plainLength, idKey: keys.chunkIdKey, id: entry.chunkId });
      } catch (error) {
        // evicted meanwhile (quietly), or damaged: either way the pack has the chunk
        // (an error from a thread keeps its message, not always its code)
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT' || /\bENOENT\b/.test(String(error));
        if (!missing) {
          this.logger.warn({ err: error, tenantId, chunk: entry.chunkId.toString('hex') }, 'cached chunk unreadable or damaged; reading it from its pack');
        }
        return undefined;
      }
    };
    const load = async (fetch: Fetch): Promise<Buffer[]> => {
      const cached = await fromCache(fetch);
      return cached ? slice(fetch, range, cached) : fromPack(fetch);
    };
    // The first fetch is decoded before the response starts, so a damaged start becomes an error
    // status rather than a cut connection.
    const first = fetches.length > 0 ? await load(fetches[0]) : [];
    async function* bytes(): AsyncGenerator<Buffer> {
      let ahead = fetches.length > 1 ? load(fetches[1]) : undefined;
      ahead?.catch(() => undefined);
      yield* first;
      for (let i = 1; i < fetches.length; i++) {
        const loaded = await ahead!;
        ahead = i + 1 < fetches.length ? load(fetches[i + 1]) : undefined;
        ahead?.catch(() => undefined);
        yield* loaded;
      }
    }
    return Readable.from(bytes(), { objectMode: false });
  }
}

/**
 * The bytes of a fetch's entries that the range asks for, from the plaintext of their chunks one
 * after another: each entry starts `skip` into its chunk (a ranged part copy cut it), and the range
 * may start in the first and end in the last. Adjacent bytes stay one buffer.
 */
function slice(fetch: Fetch, range: ByteRange, plain: Buffer): Buffer[] {
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
}

function hasKey(keys: TenantKeys, number: number): boolean {
  try {
    keys.dataKey(number);
    return true;
  } catch {
    return false;
  }
}

/**
 * For each fetch from a pack, the end of the run of fetches that follow it in the same pack without
 * a gap: how far the read will go through that pack in order, which a first fetch may read at once.
 */
export function reaches(fetches: Fetch[]): Map<Fetch, number> {
  const reach = new Map<Fetch, number>();
  for (let i = fetches.length - 1; i >= 0; i--) {
    const fetch = fetches[i];
    const next = fetches[i + 1];
    const end = fetch.start + fetch.length;
    const follows = next && !next.entries[0].cached && next.packId === fetch.packId && next.start === end;
    reach.set(fetch, follows ? reach.get(next)! : end);
  }
  return reach;
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

/**
 * The fetches that cover `range`: runs of adjacent frames of one pack, each at most FETCH_BYTES of
 * frames and of plaintext; a chunk with a cached place is a fetch of its own.
 */
export function planFetches(manifest: ManifestEntry[], range: ByteRange): Fetch[] {
  const fetches: Fetch[] = [];
  if (range.end < range.start || manifest.length === 0) return fetches;
  for (let i = firstCovering(manifest, range.start); i < manifest.length && manifest[i].offset <= range.end; i++) {
    const entry = manifest[i];
    const last = fetches[fetches.length - 1];
    if (
      last &&
      !entry.cached &&
      !last.entries[0].cached &&
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
