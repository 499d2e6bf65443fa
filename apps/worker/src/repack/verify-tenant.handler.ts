import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import type { Logger } from '@ferry/common';
import { CatalogEventsRepository, ChunksRepository, PacksRepository, TenantsRepository, VerifyRunsRepository, type ChunkHolder } from '@ferry/catalog';
import { JobName, type VerifyTenantPayload } from '@ferry/queue';
import { chunkIdOf, encodeChunk, encodeChunkId, readObjectSpan, TenantKeyring, type EncodedChunk, type TenantKeys } from '@ferry/packing';
import { Spool } from '@ferry/storage';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';
import { PackRewriter } from './pack.rewriter.js';

export interface DamagedChunk {
  packId: string;
  chunkId: string;
  reason: string;
  /** Objects that name the chunk, as bucket/key. */
  objects: string[];
  /** Re-stored from an object's copy in the local recovery cache. */
  repaired: boolean;
}

export interface VerifyReport {
  packs: number;
  chunks: number;
  bytes: number;
  damaged: DamagedChunk[];
  /** Packs whose own index failed its check; their events were written to the container again. */
  damagedIndexes: string[];
}

/**
 * Reads every pack of a tenant and checks each chunk the catalog places in it: the frame's tag, and
 * that the plaintext hashes to the chunk id. Damage is reported per object; a damaged chunk is
 * repaired from the local recovery cache when an object naming it is still there (its bytes must
 * hash to the id), by rewriting the pack's good frames and the repaired ones into a new pack.
 */
@Injectable()
export class VerifyTenantHandler implements JobHandler<JobName.VerifyTenant> {
  readonly job = JobName.VerifyTenant;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly runs: VerifyRunsRepository,
    private readonly tenants: TenantsRepository,
    private readonly chunks: ChunksRepository,
    private readonly packs: PacksRepository,
    private readonly events: CatalogEventsRepository,
    private readonly keyring: TenantKeyring,
    private readonly rewriter: PackRewriter,
    private readonly spool: Spool,
  ) {}

  async handle({ tenantId, runId }: VerifyTenantPayload): Promise<void> {
    if (!(await this.runs.start(tenantId, runId))) return;
    try {
      const report = await this.verify(tenantId);
      await this.runs.finish(tenantId, runId, 'done', report);
      this.logger.info({ tenantId, runId, ...report, damaged: report.damaged.length }, 'verify run finished');
    } catch (error) {
      await this.runs.finish(tenantId, runId, 'failed', { error: (error as Error).message });
      throw error;
    }
  }

  private async verify(tenantId: string): Promise<VerifyReport> {
    const tenant = await this.tenants.get(tenantId);
    const keys = await this.keyring.forTenant(tenantId);
    const report: VerifyReport = { packs: 0, chunks: 0, bytes: 0, damaged: [], damagedIndexes: [] };
    for (const pack of await this.packs.storedPacks(tenantId)) {
      const check = await this.rewriter.check(tenant, keys, pack);
      report.packs++;
      report.bytes += pack.size;
      report.chunks += check.sound.length + check.damaged.length;
      const indexDamaged = 'error' in check.index;
      if (check.damaged.length === 0 && !indexDamaged) {
        await this.packs.markVerified(tenantId, pack.id);
        continue;
      }
      const holders = await this.chunks.holders(tenantId, check.damaged.map((chunk) => chunk.id));
      const repaired: EncodedChunk[] = [];
      for (const chunk of check.damaged) {
        const naming = holders.filter((holder) => holder.chunkId.equals(chunk.id));
        const fixed = await this.fromCache(keys, pack.keyNumber, chunk.id, naming);
        if (fixed) repaired.push(fixed);
        report.damaged.push({
          packId: pack.id,
          chunkId: encodeChunkId(chunk.id),
          reason: chunk.reason,
          objects: [...new Set(naming.map((holder) => `${holder.bucket}/${holder.key}`))],
          repaired: fixed !== undefined,
        });
      }
      if (indexDamaged) {
        report.damagedIndexes.push(pack.id);
        await this.events.snapshot(tenantId);
      }
      if (repaired.length > 0 || indexDamaged) {
        await this.rewriter.rewrite(tenant, keys, pack, [...check.sound, ...repaired], 'events' in check.index ? check.index.events : []);
      }
    }
    return report;
  }

  /** The chunk re-encoded from an object's spool copy whose bytes hash to its id, if one is cached. */
  private async fromCache(keys: TenantKeys, keyNumber: number, id: Buffer, holders: ChunkHolder[]): Promise<EncodedChunk | undefined> {
    for (const holder of holders) {
      if (!holder.spool) continue;
      const pieces = holder.spool.map((segment) => ({ path: this.spool.absolute(segment.path), size: segment.size }));
      const plain = await readObjectSpan(pieces, holder.offset, holder.length).catch(() => undefined);
      if (!plain || !chunkIdOf(keys.chunkIdKey, plain).equals(id)) continue;
      const level = this.config.packing.zstdLevel;
      return encodeChunk(keys.dataKey(keyNumber), id, plain, level > 0 ? { level } : false);
    }
    return undefined;
  }
}
