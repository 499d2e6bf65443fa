import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { ResolvedConfig } from './ferry.config.js';

export const FERRY_CONFIG = Symbol('FERRY_CONFIG');

/** Provides the one validated config object to every app; apps load it once in main.ts. */
@Global()
@Module({})
export class FerryConfigModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    return { module: FerryConfigModule, providers: [{ provide: FERRY_CONFIG, useValue: config }], exports: [FERRY_CONFIG] };
  }
}
