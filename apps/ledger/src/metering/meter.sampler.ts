import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { Periodic, type Logger } from '@ferry/common';
import { LEDGER_LOGGER } from '../ledger.tokens.js';
import { UsageRepository } from './usage.repository.js';

/**
 * Samples every tenant's stored bytes every FERRY_METER_SAMPLE_SECONDS and integrates them into
 * byte-hours: storage is metered continuously, not measured on invoice day.
 */
@Injectable()
export class MeterSampler implements OnApplicationBootstrap, OnModuleDestroy {
  private sampler?: Periodic;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(LEDGER_LOGGER) private readonly logger: Logger,
    private readonly usage: UsageRepository,
  ) {}

  onApplicationBootstrap(): void {
    this.sampler = new Periodic(this.config.metering.sampleMs, () => this.sample(), this.logger, 'storage sample');
    void this.sampler.run();
  }

  async onModuleDestroy(): Promise<void> {
    await this.sampler?.stop();
  }

  /** One sample now (also what a test calls to move the meter without waiting). */
  async sample(): Promise<void> {
    await this.usage.sample();
    await this.usage.purgeBatches();
  }
}
