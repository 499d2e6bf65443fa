import { Module, type DynamicModule } from '@nestjs/common';
import { FerryConfigModule, type ResolvedConfig } from '@ferry/config';
import { CatalogModule } from '@ferry/catalog';
import { createLogger } from '@ferry/common';
import { QueueModule } from '@ferry/queue';
import { PackingPool, SPOOL_TASKS_PER_THREAD, TenantKeyring } from '@ferry/packing';
import { StorageModule } from '@ferry/storage';
import { JOB_HANDLERS } from './jobs/job-handler.js';
import { WorkerHost } from './jobs/worker.host.js';
import { CollectGarbageHandler } from './maintenance/collect-garbage.handler.js';
import { EvictCacheHandler } from './maintenance/evict-cache.handler.js';
import { ReconcileHandler } from './maintenance/reconcile.handler.js';
import { SweepSpoolHandler } from './maintenance/sweep-spool.handler.js';
import { SweepPacksHandler } from './maintenance/sweep-packs.handler.js';
import { WriteTenantRecordHandler } from './maintenance/write-tenant-record.handler.js';
import { FlushEventsHandler } from './repack/flush-events.handler.js';
import { PackRewriter } from './repack/pack.rewriter.js';
import { PrunePacksHandler } from './repack/prune-packs.handler.js';
import { VerifyTenantHandler } from './repack/verify-tenant.handler.js';
import { ManifestBatcher } from './repack/manifest.batcher.js';
import { PackAssembler } from './repack/pack.assembler.js';
import { RepackObjectHandler } from './repack/repack-object.handler.js';
import { WORKER_LOGGER } from './worker.tokens.js';

const handlers = [RepackObjectHandler, CollectGarbageHandler, ReconcileHandler, EvictCacheHandler, SweepSpoolHandler, SweepPacksHandler, FlushEventsHandler, PrunePacksHandler, VerifyTenantHandler, WriteTenantRecordHandler];

@Module({})
export class WorkerModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [FerryConfigModule.forRoot(config), CatalogModule, StorageModule, QueueModule],
      providers: [
        { provide: PackingPool, useFactory: () => PackingPool.start(config.packing.threads, SPOOL_TASKS_PER_THREAD) },
        TenantKeyring,
        PackAssembler,
        ManifestBatcher,
        PackRewriter,
        ...handlers,
        { provide: WORKER_LOGGER, useValue: createLogger('worker', config.logLevel) },
        { provide: JOB_HANDLERS, inject: handlers, useFactory: (...all: unknown[]) => all },
        WorkerHost,
      ],
    };
  }
}
