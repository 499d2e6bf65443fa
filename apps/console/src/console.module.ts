import { TenantKeyring } from '@ferry/packing';
import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FerryConfigModule, type ResolvedConfig } from '@ferry/config';
import { CatalogHealthController, CatalogModule } from '@ferry/catalog';
import { createLogger } from '@ferry/common';
import { StorageModule } from '@ferry/storage';
import { QueueModule } from '@ferry/queue';
import { LedgerClient } from '@ferry/ledger-contracts';
import { AccessKeyFactory } from './admin/access-key.factory.js';
import { TenantsController } from './admin/tenants.controller.js';
import { UsageHistoryController } from './billing/usage-history.controller.js';
import { PlansController } from './billing/plans.controller.js';
import { LimitsController } from './admin/limits.controller.js';
import { InvoicesController } from './billing/invoices.controller.js';
import { TenantsService } from './admin/tenants.service.js';
import { CatalogRebuildService } from './admin/catalog-rebuild.service.js';
import { CONSOLE_LOGGER } from './console.tokens.js';
import { AdminTokenGuard } from './http/admin-token.guard.js';
import { ProblemFilter } from './http/problem.filter.js';

@Module({})
export class ConsoleModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    return {
      module: ConsoleModule,
      imports: [FerryConfigModule.forRoot(config), CatalogModule, StorageModule, QueueModule],
      controllers: [CatalogHealthController, TenantsController, UsageHistoryController, PlansController, InvoicesController, LimitsController],
      providers: [
        TenantsService,
        LedgerClient,
        TenantKeyring,
        CatalogRebuildService,
        { provide: CONSOLE_LOGGER, useValue: createLogger('console', config.logLevel) },
        AccessKeyFactory,
        AdminTokenGuard,
        { provide: APP_FILTER, useFactory: () => new ProblemFilter(createLogger('console', config.logLevel)) },
      ],
    };
  }
}
