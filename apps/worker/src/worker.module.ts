import { Module, type DynamicModule } from '@nestjs/common';
import { FerryConfigModule, type ResolvedConfig } from '@ferry/config';
import { CatalogModule } from '@ferry/catalog';
import { createLogger } from '@ferry/common';
import { QueueModule } from '@ferry/queue';
import { StorageModule } from '@ferry/storage';
import { ForwardObjectHandler } from './forward/forward-object.handler.js';
import { JOB_HANDLERS } from './jobs/job-handler.js';
import { WorkerHost } from './jobs/worker.host.js';
import { CollectGarbageHandler } from './maintenance/collect-garbage.handler.js';
import { EvictCacheHandler } from './maintenance/evict-cache.handler.js';
import { ReconcileHandler } from './maintenance/reconcile.handler.js';
import { SweepSpoolHandler } from './maintenance/sweep-spool.handler.js';
import { WORKER_LOGGER } from './worker.tokens.js';

const handlers = [ForwardObjectHandler, CollectGarbageHandler, ReconcileHandler, EvictCacheHandler, SweepSpoolHandler];

@Module({})
export class WorkerModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    return {
      module: WorkerModule,
      imports: [FerryConfigModule.forRoot(config), CatalogModule, StorageModule, QueueModule],
      providers: [
        ...handlers,
        { provide: WORKER_LOGGER, useValue: createLogger('worker', config.logLevel) },
        { provide: JOB_HANDLERS, inject: handlers, useFactory: (...all: unknown[]) => all },
        WorkerHost,
      ],
    };
  }
}
