import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { BlobServiceClient, RestError } from '@azure/storage-blob';
import { readFileRange } from './file-range.js';

export interface SourceSegment {
  /** Absolute path of a file holding part of the blob, in order. */
  path: string;
  size: number;
}

export interface UploadOptions {
  blockBytes: number;
  concurrency: number;
}

const isNotFound = (error: unknown) => error instanceof RestError && error.statusCode === 404;

/**
 * The one door to Azure Blob. Every call names the tenant's container; nothing here lists or
 * touches containers it was not given.
 */
export class BlobStore {
  private readonly service: BlobServiceClient;
  private readonly knownContainers = new Set<string>();

  constructor(connectionString: string) {
    this.service = BlobServiceClient.fromConnectionString(connectionString);
  }

  async ensureContainer(container: string): Promise<void> {
    if (this.knownContainers.has(container)) return;
    await this.service.getContainerClient(container).createIfNotExists();
    this.knownContainers.add(container);
  }

  /**
   * Uploads the concatenation of segments as one block blob: one Put Blob when it fits in a block,
   * else fixed-size staged blocks with ids derived from their position (so a retry restages the
   * same ids), then a commit. Idempotent.
   */
  async upload(container: string, blobName: string, segments: SourceSegment[], options: UploadOptions): Promise<void> {
    await this.ensureContainer(container);
    const blob = this.service.getContainerClient(container).getBlockBlobClient(blobName);
    // Every file is opened first: a file removed meanwhile (the object was deleted) stays readable
    // through its handle, and one already gone fails here at once rather than in the SDK's retries.
    const handles: FileHandle[] = [];
    try {
      const blocks: { id: string; handle: FileHandle; start: number; length: number }[] = [];
      for (const segment of segments) {
        const handle = await open(segment.path, 'r');
        handles.push(handle);
        for (let start = 0; start < segment.size; start += options.blockBytes) {
          const length = Math.min(options.blockBytes, segment.size - start);
          blocks.push({ id: blockId(blocks.length), handle, start, length });
        }
      }
      if (blocks.length === 0) {
        await blob.upload(Buffer.alloc(0), 0);
        return;
      }
      if (blocks.length === 1) {
        // one request (Put Blob) instead of a staged block and a commit: half the transactions
        // for the small objects backups are full of
        const [only] = blocks;
        await blob.upload(() => blockStream(only), only.length);
        return;
      }
      if (blocks.length > 50_000) throw new Error(`blob ${blobName} would need ${blocks.length} blocks (max 50,000)`);
      await runPool(blocks, options.concurrency, (block) =>
        blob.stageBlock(block.id, () => blockStream(block), block.length),
      );
      await blob.commitBlockList(blocks.map((block) => block.id));
    } finally {
      await Promise.all(handles.map((handle) => handle.close()));
    }
  }

  /**
   * Writes a blob from buffers already in memory, in one Put Blob request (a pack is at most a few
   * tens of MiB; Azure takes up to 5,000 MiB in one). Overwrites.
   */
  async putBuffers(container: string, blobName: string, buffers: Buffer[]): Promise<void> {
    await this.ensureContainer(container);
    const blob = this.service.getContainerClient(container).getBlockBlobClient(blobName);
    const size = buffers.reduce((sum, buffer) => sum + buffer.length, 0);
    await blob.upload(() => Readable.from(buffers, { objectMode: false }), size);
  }

  /** `count` bytes from `offset`, into one buffer: for the small ranges of a pack a read needs. */
  async readRange(container: string, blobName: string, offset: number, count: number): Promise<Buffer> {
    const blob = this.service.getContainerClient(container).getBlobClient(blobName);
    const buffer = Buffer.allocUnsafe(count);
    await blob.downloadToBuffer(buffer, offset, count, { concurrency: 1 });
    return buffer;
  }

  /** Streams `count` bytes from `offset` (the whole blob when count is undefined). */
  async download(container: string, blobName: string, offset = 0, count?: number): Promise<Readable> {
    const blob = this.service.getContainerClient(container).getBlobClient(blobName);
    const response = await blob.download(offset, count);
    if (!response.readableStreamBody) throw new Error('blob download returned no body');
    return response.readableStreamBody as Readable;
  }

  /** Blobs under `prefix` with their sizes, in name order; nothing when the container does not exist. */
  async *list(container: string, prefix: string): AsyncGenerator<{ name: string; size: number }> {
    try {
      for await (const blob of this.service.getContainerClient(container).listBlobsFlat({ prefix })) {
        yield { name: blob.name, size: blob.properties.contentLength ?? 0 };
      }
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** A small blob, whole (a keyring); undefined when it does not exist. */
  async readSmall(container: string, blobName: string): Promise<Buffer | undefined> {
    try {
      return await this.service.getContainerClient(container).getBlobClient(blobName).downloadToBuffer();
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async exists(container: string, blobName: string): Promise<boolean> {
    return this.service.getContainerClient(container).getBlobClient(blobName).exists();
  }

  async deleteBlob(container: string, blobName: string): Promise<void> {
    try {
      await this.service.getContainerClient(container).getBlobClient(blobName).delete();
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async deleteContainer(container: string): Promise<void> {
    this.knownContainers.delete(container);
    try {
      await this.service.getContainerClient(container).delete();
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  async containerExists(container: string): Promise<boolean> {
    return this.service.getContainerClient(container).exists();
  }

  /** Cheap reachability check for health endpoints. */
  async ping(): Promise<void> {
    await this.service.getProperties();
  }
}

/** A block's bytes; the SDK calls this again for each retry of the request. */
function blockStream(block: { handle: FileHandle; start: number; length: number }): Readable {
  return Readable.from(readFileRange(block.handle, block.start, block.length), { objectMode: false });
}

function blockId(index: number): string {
  return Buffer.from(`ferry-block-${String(index).padStart(6, '0')}`).toString('base64');
}

/** Runs tasks with at most `limit` in flight; rejects on the first failure after in-flight ones settle. */
export async function runPool<T>(items: T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  let failure: unknown;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (error) {
        failure ??= error;
      }
    }
  });
  await Promise.all(lanes);
  if (failure !== undefined) throw failure;
}
