import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, SlabPool, type Logger } from '@ferry/common';
import { ChunksRepository, ObjectsRepository, TenantsRepository, type CutChunk, type ObjectVersionEntity } from '@ferry/catalog';
import { JobName, type ForwardObjectPayload } from '@ferry/queue';
import { DEFAULT_CHUNKING, ENCODE_SLAB_BYTES, encodeBatches, encodeChunkId, framesBound, PackingPool, TenantKeyring, type EncodedFrame, type EncodeTask } from '@ferry/packing';
import { Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';
import { ManifestBatcher } from './manifest.batcher.js';
import { PackAssembler, type PackTarget } from './pack.assembler.js';

/** How often a job waiting for chunks another ingest is storing looks again. */
const WAIT_STEP_MS = 100;

/** A batch of chunks being encoded into a slab (none for a batch too large for one). */
interface Encoding {
  frames: Promise<EncodedFrame[]>;
  slab?: Promise<Buffer>;
}

/**
 * Repacks one acknowledged object from the spool into its tenant's packs (docs/format.md): cut it
 * into chunks, claim the ones the tenant's dedup index does not know, compress and encrypt those
 * into the open pack, and once every chunk and the object's manifest are in Blob, record the
 * manifest and mark the object stored — in one transaction. Idempotent: a retry re-cuts the same
 * chunks, takes back its own claims and stores only what is still missing.
 */
@Injectable()
export class RepackObjectHandler implements JobHandler<JobName.ForwardObject> {
  readonly job = JobName.ForwardObject;
  /** The memory worker threads write frames into, reused (SlabPool says why). */
  private readonly slabs: SlabPool;
  /** Each tenant's container by tenant id (a few dozen bytes per tenant this worker has repacked for). */
  private readonly containers = new Map<string, string>();

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly objects: ObjectsRepository,
    private readonly tenants: TenantsRepository,
    private readonly chunks: ChunksRepository,
    private readonly keyring: TenantKeyring,
    private readonly pool: PackingPool,
    private readonly assembler: PackAssembler,
    private readonly manifests: ManifestBatcher,
    private readonly spool: Spool,
  ) {
    // Two slabs a thread: one being encoded into while the frames of the other are appended. A batch
    // waits for a slab before it goes to the threads, so the worker's concurrent jobs (128 by default)
    // queue for slabs rather than each holding one while the threads are busy.
    const slabs = 2 * pool.threads;
    this.slabs = new SlabPool(ENCODE_SLAB_BYTES, slabs, slabs);
  }

  async handle({ tenantId, objectId }: ForwardObjectPayload): Promise<void> {
    const object = await this.objects.getById(tenantId, objectId);
    if (!object || object.state === 'stored') return;
    const container = await this.containerOf(tenantId);
    if (!container) return;
    if (!object.spool) throw new Error(`staged object ${objectId} has no spooled bytes`);
    const target: PackTarget = { tenantId, container, keys: await this.keyring.forTenant(tenantId) };
    const pieces = object.spool.map((segment) => ({ path: this.spool.absolute(segment.path), size: segment.size }));
    const cut = await this.pool.cut({ pieces, idKey: target.keys.chunkIdKey, params: DEFAULT_CHUNKING });
    const chunks: CutChunk[] = cut.offsets.map((offset, i) => ({
      id: Buffer.from(cut.ids.subarray(i * 32, i * 32 + 32)),
      offset,
      length: cut.lengths[i],
    }));
    try {
      await this.repack(target, object, pieces, chunks);
    } catch (error) {
      // deleted mid-repack (its spool files went with it): nothing to retry, and its claims must
      // not make other ingests of the same bytes wait for the lease
      if (await this.objects.getById(tenantId, objectId)) throw error;
      await this.chunks.releaseClaims(tenantId, objectId);
    }
  }

  /**
   * The tenant's container, fixed when the tenant was created: read once per tenant rather than once
   * per object. None when the tenant is gone (its objects went with it, so a job for one ends).
   */
  private async containerOf(tenantId: string): Promise<string | undefined> {
    const known = this.containers.get(tenantId);
    if (known) return known;
    const tenant = await this.tenants.get(tenantId).catch((error: unknown) => {
      if (error instanceof FerryError && error.code === FerryErrorCode.TenantNotFound) return undefined;
      throw error;
    });
    if (tenant) this.containers.set(tenantId, tenant.container);
    return tenant?.container;
  }

  private async repack(target: PackTarget, object: ObjectVersionEntity, pieces: { path: string; size: number }[], chunks: CutChunk[]): Promise<void> {
    const { tenantId, id: objectId } = object;
    for (;;) {
      const { claimed, event } = await this.chunks.claim(tenantId, objectId, chunks);
      if (!event) {
        // deleted meanwhile: nothing to store
        await this.chunks.releaseClaims(tenantId, objectId);
        return;
      }
      const pending = await this.store(target, object, pieces, chunks, claimed);
      pending.push(this.assembler.record(target, putEvent(object, event, chunks)));
      await this.assembler.awaitPacks(pending);
      // chunks this job did not claim are stored already or being stored by another ingest
      const allMine = chunks.every((chunk) => claimed.has(chunk.id.toString('hex')));
      if (!allMine && !(await this.awaitOthers(tenantId, chunks))) continue;
      const outcome = await this.manifests.commit(tenantId, objectId, chunks);
      if (outcome === 'object-gone') await this.chunks.releaseClaims(tenantId, objectId);
      if (outcome === 'chunk-gone') {
        this.logger.info({ tenantId, objectId }, 'a deduplicated chunk was collected meanwhile; storing it again');
        continue;
      }
      this.logger.debug({ tenantId, objectId, bytes: object.size, chunks: chunks.length, claimed: claimed.size, outcome }, 'object repacked');
      return;
    }
  }

  /** Encodes the claimed chunks in worker threads and hands their frames to the open pack. */
  private async store(
    target: PackTarget,
    object: ObjectVersionEntity,
    pieces: { path: string; size: number }[],
    chunks: CutChunk[],
    claimed: Set<string>,
  ): Promise<Promise<void>[]> {
    const mine = new Map<string, CutChunk>();
    for (const chunk of chunks) {
      const hex = chunk.id.toString('hex');
      if (claimed.has(hex) && !mine.has(hex)) mine.set(hex, chunk);
    }
    const batches = encodeBatches(mine.values());
    const pending: Promise<void>[] = [];
    // two batches in flight: one encoding while the previous one is appended
    let previous: Encoding | undefined;
    const task = { pieces, dataKey: target.keys.current.key, zstdLevel: this.config.packing.zstdLevel };
    for (const next of batches) {
      await this.assembler.room();
      const encoding = this.encode({ ...task, chunks: next });
      try {
        if (previous) pending.push(...(await this.append(target, object, previous)));
      } catch (error) {
        await this.release(encoding);
        throw error;
      }
      previous = encoding;
    }
    if (previous) pending.push(...(await this.append(target, object, previous)));
    return pending;
  }

  private encode(task: EncodeTask): Encoding {
    const slab = framesBound(task.chunks) <= this.slabs.slabBytes ? this.slabs.acquire() : undefined;
    const frames = (async () => this.pool.encode(task, await slab))();
    // a failure surfaces when it is awaited; until then it must not count as unhandled
    frames.catch(() => undefined);
    return { frames, slab };
  }

  /** Hands a batch's frames to the open pack, which copies them, and gives its slab back. */
  private async append(target: PackTarget, object: ObjectVersionEntity, encoding: Encoding): Promise<Promise<void>[]> {
    try {
      return this.assembler.append(target, object.id, object.createdAt, await encoding.frames);
    } finally {
      await this.release(encoding);
    }
  }

  /** The slab is free once its thread is done with it: when the encode has settled. */
  private async release(encoding: Encoding): Promise<void> {
    await encoding.frames.catch(() => undefined);
    if (encoding.slab) this.slabs.settle(await encoding.slab);
  }

  /**
   * Waits until every chunk of the object has a pack. Chunks another ingest claimed are its to store;
   * false when one of those claims went stale (that ingest died), so the caller claims again.
   */
  private async awaitOthers(tenantId: string, chunks: CutChunk[]): Promise<boolean> {
    const ids = chunks.map((chunk) => chunk.id);
    for (;;) {
      const { waiting, stale } = await this.chunks.unstored(tenantId, ids);
      if (stale > 0) return false;
      if (waiting === 0) return true;
      await sleep(WAIT_STEP_MS);
    }
  }
}

function putEvent(object: ObjectVersionEntity, context: { seq: number; bucket: string }, chunks: CutChunk[]) {
  return {
    seq: context.seq,
    type: 'object.put' as const,
    at: new Date().toISOString(),
    bucket: context.bucket,
    key: object.key,
    versionId: object.versionId,
    objectId: object.id,
    size: object.size,
    etag: object.etag,
    contentType: object.contentType,
    headers: object.headers,
    userMetadata: object.userMetadata,
    checksums: object.checksums,
    checksumType: object.checksumType,
    parts: object.parts,
    chunks: chunks.map((chunk): [string, number] => [encodeChunkId(chunk.id), chunk.offset]),
  };
}
