import { Module, type DynamicModule } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { FerryConfigModule, type ResolvedConfig } from '@ferry/config';
import { CatalogModule } from '@ferry/catalog';
import { createLogger } from '@ferry/common';
import { LedgerController } from './ledger.controller.js';
import { LedgerErrorsFilter } from './rpc-errors.filter.js';

@Module({})
export class LedgerModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    return {
      module: LedgerModule,
      imports: [FerryConfigModule.forRoot(config), CatalogModule],
      controllers: [LedgerController],
      providers: [{ provide: APP_FILTER, useFactory: () => new LedgerErrorsFilter(createLogger('ledger', config.logLevel)) }],
    };
  }
}
