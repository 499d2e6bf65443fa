import { Injectable } from '@nestjs/common';
import { ChunksRepository, type CutChunk, type ManifestCommit } from '@ferry/catalog';

/**
 * Manifests of one tenant per statement, at most this many: each object is a few statements of its
 * own inside, and a batch holds every chunk row it names locked until it commits.
 */
const MAX_BATCH = 64;

interface Queued {
  objectId: string;
  chunks: CutChunk[];
  settle: { resolve: (outcome: ManifestCommit) => void; reject: (error: unknown) => void };
}

/**
 * Commits object manifests in batches (`ChunksRepository.commitManifests`). The jobs whose frames
 * shared a pack resume together once it is written, and each commits its manifest: those that ask in
 * the same turn of the event loop go in one statement per tenant, rather than one transaction each.
 * Each caller still gets its own object's outcome; a batch that fails fails each of its callers, whose
 * jobs are retried as before.
 */
@Injectable()
export class ManifestBatcher {
  private readonly queued = new Map<string, Queued[]>();
  private flushing = false;

  constructor(private readonly chunks: ChunksRepository) {}

  commit(tenantId: string, objectId: string, chunks: CutChunk[]): Promise<ManifestCommit> {
    return new Promise<ManifestCommit>((resolve, reject) => {
      const batch = this.queued.get(tenantId) ?? [];
      batch.push({ objectId, chunks, settle: { resolve, reject } });
      this.queued.set(tenantId, batch);
      if (batch.length >= MAX_BATCH) {
        this.queued.delete(tenantId);
        void this.run(tenantId, batch);
      } else if (!this.flushing) {
        this.flushing = true;
        // after the callers that resume in this turn (the jobs of one pack) have all asked
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.flushing = false;
    const batches = [...this.queued];
    this.queued.clear();
    for (const [tenantId, batch] of batches) void this.run(tenantId, batch);
  }

  private async run(tenantId: string, batch: Queued[]): Promise<void> {
    try {
      const outcomes = await this.chunks.commitManifests(tenantId, batch);
      batch.forEach((queued, i) => queued.settle.resolve(outcomes[i]));
    } catch (error) {
      for (const queued of batch) queued.settle.reject(error);
    }
  }
}
