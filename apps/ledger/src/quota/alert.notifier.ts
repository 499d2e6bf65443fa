import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { Periodic, type Logger } from '@ferry/common';
import { LEDGER_LOGGER } from '../ledger.tokens.js';
import { QuotaRepository } from './quota.repository.js';

const SWEEP_MS = 5_000;
const MAX_ATTEMPTS = 10;

/**
 * The ledger's housekeeping: closes alerts of tenants back under their threshold, drops lapsed
 * reservations, and posts new alerts to the operator's webhook (FERRY_ALERT_WEBHOOK_URL) until it
 * answers 2xx, up to ten tries. Alerts are stored first, so a webhook that is down loses none.
 */
@Injectable()
export class AlertNotifier implements OnModuleInit, OnModuleDestroy {
  private sweeper?: Periodic;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(LEDGER_LOGGER) private readonly logger: Logger,
    private readonly quotas: QuotaRepository,
  ) {}

  onModuleInit(): void {
    this.sweeper = new Periodic(SWEEP_MS, () => this.sweep(), this.logger, 'ledger sweep');
  }

  async onModuleDestroy(): Promise<void> {
    await this.sweeper?.stop();
  }

  async sweep(): Promise<void> {
    await this.quotas.clearAlerts();
    await this.quotas.purgeExpired();
    const url = this.config.ledger.alertWebhookUrl;
    if (!url) return;
    for (const alert of await this.quotas.undelivered(MAX_ATTEMPTS, 100)) {
      let delivered = false;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ type: 'quota.threshold', ...alert }),
          signal: AbortSignal.timeout(5_000),
        });
        delivered = response.ok;
        if (!delivered) this.logger.warn({ status: response.status, alertId: alert.id }, 'alert webhook refused the alert');
      } catch (error) {
        this.logger.warn({ err: error, alertId: alert.id }, 'alert webhook unreachable');
      }
      await this.quotas.markDelivery(alert.id, delivered);
    }
  }
}
