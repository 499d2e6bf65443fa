import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import type { Logger } from '@ferry/common';
import { CatalogEventsRepository, PacksRepository, TenantsRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import { TenantKeyring } from '@ferry/packing';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';
import { PackRewriter } from './pack.rewriter.js';

const BATCH = 20;
/** Event-only packs of one size tier a tenant may have before they are merged into one. */
const EVENT_PACKS_TO_MERGE = 8;

/**
 * Rewrites packs whose live fraction fell under FERRY_PACK_PRUNE_BELOW: their live frames (and
 * the catalog events still needed) move byte for byte into a new pack, and the old pack is retired, its blob removed
 * by the collector a little later. Frees the storage that deletes alone cannot, since a pack is
 * written once and never shortened. Then merges a tenant's packs of events only, once there are many
 * of a size (PacksRepository.eventPacks).
 */
@Injectable()
export class PrunePacksHandler implements JobHandler<JobName.PrunePacks> {
  readonly job = JobName.PrunePacks;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly packs: PacksRepository,
    private readonly tenants: TenantsRepository,
    private readonly events: CatalogEventsRepository,
    private readonly keyring: TenantKeyring,
    private readonly rewriter: PackRewriter,
  ) {}

  async handle(): Promise<void> {
    const { pruneBelow, chunkGraceMs } = this.config.packing;
    for (const pack of await this.packs.sparsePacks(pruneBelow, chunkGraceMs, BATCH)) {
      const tenant = await this.tenants.get(pack.tenantId);
      const keys = await this.keyring.forTenant(tenant.id);
      const check = await this.rewriter.check(tenant, keys, pack);
      const events = 'events' in check.index ? check.index.events : [];
      // a damaged index lost its events: the container must say the whole catalog again
      if ('error' in check.index) await this.events.snapshot(tenant.id);
      const moved = await this.rewriter.rewrite(tenant, keys, pack, check.sound, events);
      this.logger.info(
        { tenantId: tenant.id, packId: pack.id, into: moved, liveBytes: pack.liveBytes, size: pack.size, damaged: check.damaged.length },
        'pruned a sparse pack',
      );
    }
    for (const { tenantId, packs } of await this.packs.eventPacks(EVENT_PACKS_TO_MERGE, chunkGraceMs)) {
      const tenant = await this.tenants.get(tenantId);
      const merged = await this.rewriter.mergeEvents(tenant, await this.keyring.forTenant(tenantId), packs);
      if (merged.damaged.length > 0) await this.events.snapshot(tenantId);
      this.logger.info({ tenantId, packs: packs.length, into: merged.packId, damaged: merged.damaged.length }, 'merged packs of catalog events');
    }
  }
}
