import { availableParallelism } from 'node:os';
import type { OnApplicationShutdown } from '@nestjs/common';
import { Piscina } from 'piscina';
import type { CutResult, CutTask, EncodedFrame, EncodeTask } from './packing.thread.js';
import { threadModuleUrl } from './thread-module.js';

/**
 * Worker threads for the CPU-heavy steps of repacking (cutting, keyed hashing, zstd, AES-GCM), one
 * per core by default, so the pool uses every core while the event loop moves bytes and talks to
 * Postgres and Blob.
 */
export class PackingPool implements OnApplicationShutdown {
  private constructor(private readonly pool: Piscina) {}

  static async start(threads = availableParallelism()): Promise<PackingPool> {
    const filename = await threadModuleUrl(new URL('./packing.thread.js', import.meta.url));
    return new PackingPool(new Piscina({ filename: filename.href, minThreads: threads, maxThreads: threads, idleTimeout: 60_000 }));
  }

  cut(task: CutTask): Promise<CutResult> {
    return this.pool.run(task, { name: 'cut' }) as Promise<CutResult>;
  }

  encode(task: EncodeTask): Promise<EncodedFrame[]> {
    return this.pool.run(task, { name: 'encode' }) as Promise<EncodedFrame[]>;
  }

  onApplicationShutdown(): Promise<void> {
    return this.close();
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
