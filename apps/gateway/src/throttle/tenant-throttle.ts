import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Transform } from 'node:stream';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, Periodic, type Logger } from '@ferry/common';
import { LedgerClient, LedgerPattern, type TenantLimits } from '@ferry/ledger-contracts';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';
import { TokenBucket } from './token-bucket.js';

/**
 * Traffic control per tenant, from the limits the operator set in the ledger (re-read every
 * FERRY_LIMITS_REFRESH_SECONDS; the last ones known stay in force while the ledger is down):
 * - at most `maxConcurrentRequests` of a tenant's requests at once;
 * - `maxBandwidthBytesPerSecond` over all of a tenant's request and response bodies;
 * - and a fair share between tenants: once the gateway has FERRY_MAX_CONCURRENT_REQUESTS in flight,
 *   a tenant already holding its share (that number over the tenants with requests in flight) waits
 *   its turn, while the others still get in.
 * A request over a limit is answered 503 SlowDown with Retry-After, which S3 clients back off on.
 */
@Injectable()
export class TenantThrottle implements OnModuleInit, OnModuleDestroy {
  private limits = new Map<string, TenantLimits>();
  private readonly inFlight = new Map<string, number>();
  private total = 0;
  private readonly buckets = new Map<string, TokenBucket>();
  private refresher?: Periodic;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly ledger: LedgerClient,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.refresh();
    this.refresher = new Periodic(this.config.throttle.limitsRefreshMs, () => this.refresh(), this.logger, 'limits refresh');
  }

  async onModuleDestroy(): Promise<void> {
    await this.refresher?.stop();
  }

  /** Lets one request of the tenant in, or refuses it; the returned function lets it out. */
  admit(tenantId: string): () => void {
    const mine = this.inFlight.get(tenantId) ?? 0;
    const limit = this.limits.get(tenantId)?.maxConcurrentRequests;
    if (limit != null && mine >= limit) {
      throw new FerryError(FerryErrorCode.ServiceUnavailable, `Please reduce your request rate: this account may have ${limit} requests in progress at once.`);
    }
    const cap = this.config.throttle.maxConcurrentRequests;
    if (this.total >= cap) {
      const active = this.inFlight.size + (mine === 0 ? 1 : 0);
      if (mine >= Math.ceil(cap / active)) {
        throw new FerryError(FerryErrorCode.ServiceUnavailable, 'Please reduce your request rate: the gateway is busy and this account has its share of it.');
      }
    }
    this.inFlight.set(tenantId, mine + 1);
    this.total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.inFlight.get(tenantId) ?? 1) - 1;
      if (left === 0) this.inFlight.delete(tenantId);
      else this.inFlight.set(tenantId, left);
    };
  }

  /** The tenant's requests in progress on this gateway. */
  inProgress(tenantId: string): number {
    return this.inFlight.get(tenantId) ?? 0;
  }

  /** A pass-through stream at the tenant's bandwidth limit; undefined when it has none. */
  pace(tenantId: string): Transform | undefined {
    return this.buckets.get(tenantId)?.stream();
  }

  /** Reads every tenant's limits from the ledger now. */
  async refresh(): Promise<void> {
    try {
      const { limits } = await this.ledger.send(LedgerPattern.ListLimits, {});
      this.limits = new Map(limits.map((entry) => [entry.tenantId, entry]));
      for (const [tenantId, entry] of this.limits) {
        const rate = entry.maxBandwidthBytesPerSecond;
        if (rate === null) this.buckets.delete(tenantId);
        else if (this.buckets.has(tenantId)) this.buckets.get(tenantId)!.setRate(rate);
        else this.buckets.set(tenantId, new TokenBucket(rate));
      }
      for (const tenantId of this.buckets.keys()) if (!this.limits.get(tenantId)?.maxBandwidthBytesPerSecond) this.buckets.delete(tenantId);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not read tenant limits from the ledger; the last ones known stay in force');
    }
  }
}
