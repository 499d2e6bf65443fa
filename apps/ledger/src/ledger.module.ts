import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FerryConfigModule, type ResolvedConfig } from '@ferry/config';
import { CatalogModule } from '@ferry/catalog';
import { createLogger } from '@ferry/common';
import { LedgerController } from './ledger.controller.js';
import { BillingController } from './billing/billing.controller.js';
import { BillingService } from './billing/billing.service.js';
import { InvoicesRepository } from './billing/invoices.repository.js';
import { PlansRepository } from './billing/plans.repository.js';
import { LimitsRepository } from './limits/limits.repository.js';
import { LEDGER_LOGGER } from './ledger.tokens.js';
import { AlertNotifier } from './quota/alert.notifier.js';
import { QuotaRepository } from './quota/quota.repository.js';
import { QuotaService } from './quota/quota.service.js';
import { MeterSampler } from './metering/meter.sampler.js';
import { UsageRepository } from './metering/usage.repository.js';
import { LedgerErrorsFilter } from './rpc-errors.filter.js';

@Module({})
export class LedgerModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    const logger = createLogger('ledger', config.logLevel);
    return {
      module: LedgerModule,
      imports: [FerryConfigModule.forRoot(config), CatalogModule],
      controllers: [LedgerController, BillingController],
      providers: [
        { provide: LEDGER_LOGGER, useValue: logger },
        { provide: APP_FILTER, useFactory: () => new LedgerErrorsFilter(logger) },
        QuotaRepository,
        QuotaService,
        AlertNotifier,
        UsageRepository,
        MeterSampler,
        PlansRepository,
        LimitsRepository,
        InvoicesRepository,
        BillingService,
      ],
    };
  }
}
