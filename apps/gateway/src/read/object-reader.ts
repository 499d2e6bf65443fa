import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { Injectable } from '@nestjs/common';
import { ObjectsRepository, type ObjectVersionEntity } from '@ferry/catalog';
import type { SlabPool } from '@ferry/common';
import { BlobStore, readFileRange, Spool } from '@ferry/storage';
import { PackedReader } from './packed-reader.js';
import type { ByteRange } from './range.js';
import { ReadSlabs } from './read.slabs.js';

/**
 * Serves an object's bytes from the spool while it is there (acknowledged but not yet forwarded,
 * or still in the recovery cache), else from its packs (or, forwarded before the repackaging engine,
 * its own blob): read-after-write at all times. Spool files
 * are opened before any byte is sent, so an eviction racing the read falls back to Blob cleanly.
 */
@Injectable()
export class ObjectReader {
  constructor(
    private readonly objects: ObjectsRepository,
    private readonly spool: Spool,
    private readonly blobs: BlobStore,
    private readonly packed: PackedReader,
    private readonly slabs: ReadSlabs,
  ) {}

  async open(container: string, object: ObjectVersionEntity, range: ByteRange): Promise<Readable> {
    if (range.end < range.start) return Readable.from([]);
    if (object.spool) {
      const local = await this.openSpool(object, range);
      if (local) return local;
      // evicted between the catalog read and now: the row must say stored by then
      const fresh = await this.objects.getById(object.tenantId, object.id);
      if (!fresh) throw new Error(`object ${object.id} vanished while being read`);
      object = fresh;
      if (fresh.spool) {
        const retry = await this.openSpool(fresh, range);
        if (retry) return retry;
      }
    }
    if (object.state !== 'stored') throw new Error(`object ${object.id} is staged but its spool files are missing`);
    if (object.packed) return this.packed.open(object.tenantId, container, object.id, object.size, range);
    if (!object.blobName) throw new Error(`stored object ${object.id} has neither a manifest nor a blob`);
    return this.blobs.download(container, object.blobName, range.start, range.end - range.start + 1);
  }

  private async openSpool(object: ObjectVersionEntity, range: ByteRange): Promise<Readable | undefined> {
    const slices: Slice[] = [];
    let offset = 0;
    try {
      for (const segment of object.spool ?? []) {
        const segmentEnd = offset + segment.size - 1;
        if (segment.size > 0 && segmentEnd >= range.start && offset <= range.end) {
          const { handle, direct } = await this.spool.openForRead(segment.path, true);
          slices.push({ handle, direct, start: Math.max(range.start, offset) - offset, end: Math.min(range.end, segmentEnd) - offset });
        }
        offset += segment.size;
      }
    } catch (error) {
      await Promise.all(slices.map((slice) => slice.handle.close()));
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    return concatenate(slices, this.slabs.small);
  }
}

/** The part of one spool file a read sends, inclusive, and how the file is open. */
interface Slice {
  handle: FileHandle;
  direct: boolean;
  start: number;
  end: number;
}

/**
 * One stream over file slices, read into slabs lent to the reader; Readable.from closes every handle
 * however the reader stops.
 */
function concatenate(slices: Slice[], slabs: SlabPool): Readable {
  async function* bytes() {
    try {
      for (const slice of slices) {
        yield* readFileRange(slice.handle, slice.start, slice.end - slice.start + 1, slabs, slice.direct);
      }
    } finally {
      await Promise.all(slices.map((slice) => slice.handle.close().catch(() => undefined)));
    }
  }
  return Readable.from(bytes(), { objectMode: false, highWaterMark: 1024 * 1024 });
}
