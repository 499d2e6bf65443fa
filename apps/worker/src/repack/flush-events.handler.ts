import { Inject, Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { CatalogEventsRepository, TenantsRepository } from '@ferry/catalog';
import { JobName } from '@ferry/queue';
import { TenantKeyring, type CatalogEvent } from '@ferry/packing';
import type { JobHandler } from '../jobs/job-handler.js';
import { WORKER_LOGGER } from '../worker.tokens.js';
import { PackAssembler } from './pack.assembler.js';

const BATCH = 5000;

/**
 * Moves catalog events waiting in the outbox (deletes, copies, bucket changes) into the tenant's
 * next pack, a pack of events only when no chunk is on its way: the container then says what the
 * catalog says, and a rebuild from it does not bring back what was deleted. Writing an event twice
 * (a crash between the pack and the outbox cleanup) is harmless: replay is by sequence number.
 */
@Injectable()
export class FlushEventsHandler implements JobHandler<JobName.FlushEvents> {
  readonly job = JobName.FlushEvents;

  constructor(
    @Inject(WORKER_LOGGER) private readonly logger: Logger,
    private readonly events: CatalogEventsRepository,
    private readonly tenants: TenantsRepository,
    private readonly keyring: TenantKeyring,
    private readonly assembler: PackAssembler,
  ) {}

  async handle(): Promise<void> {
    for (const tenantId of await this.events.tenantsWithEvents()) {
      const tenant = await this.tenants.get(tenantId).catch((error: unknown) => {
        if (error instanceof FerryError && error.code === FerryErrorCode.TenantNotFound) return undefined;
        throw error;
      });
      for (;;) {
        const batch = await this.events.pending(tenantId, BATCH);
        if (batch.length === 0) break;
        // a deleted tenant's rows still fire their triggers on the way out; nothing is left to write them to
        const live = tenant ? (batch.filter((event) => typeof event.bucket === 'string') as unknown as CatalogEvent[]) : [];
        if (tenant && live.length > 0) {
          const target = { tenantId, container: tenant.container, keys: await this.keyring.forTenant(tenantId) };
          await this.assembler.record(target, ...live);
        }
        await this.events.drop(tenantId, batch.map((event) => event.seq));
        this.logger.debug({ tenantId, events: live.length, dropped: batch.length - live.length }, 'catalog events written to the container');
        if (batch.length < BATCH) break;
      }
    }
  }
}
