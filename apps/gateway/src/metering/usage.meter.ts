import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { Periodic, type Logger } from '@ferry/common';
import { LedgerClient, LedgerPattern, type RequestClass, type UsageEntry } from '@ferry/ledger-contracts';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';

const HOUR_MS = 3_600_000;

/**
 * Counts each tenant's requests (by class), bytes in and bytes out, per hour, and reports them to
 * the ledger every FERRY_METER_FLUSH_SECONDS. A report keeps its batch id until the ledger has it,
 * so a retry after a lost answer or a ledger outage is counted once; counts gathered meanwhile wait
 * for the next batch. Counting never waits on the ledger: requests are served while it is down.
 */
@Injectable()
export class UsageMeter implements OnModuleInit, OnModuleDestroy {
  private readonly source = `gateway/${randomUUID()}`;
  private sequence = 0;
  /** "tenant|hour" → counts not yet in a batch. */
  private current = new Map<string, UsageEntry>();
  /** The batch on its way to the ledger, retried under the same id until acknowledged. */
  private pending?: { batchId: string; entries: UsageEntry[] };
  private reporter?: Periodic;
  private hourStart = -1;
  private hour = '';

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly ledger: LedgerClient,
  ) {}

  onModuleInit(): void {
    this.reporter = new Periodic(this.config.metering.flushMs, () => this.send(), this.logger, 'usage report');
  }

  /** A last report on the way out; what cannot be delivered now is lost with the process. */
  async onModuleDestroy(): Promise<void> {
    await this.reporter?.stop();
    await this.flush();
    if (this.current.size > 0) await this.flush();
  }

  request(tenantId: string, requestClass: RequestClass): void {
    this.entry(tenantId).requests[requestClass] += 1;
  }

  ingress(tenantId: string, bytes: number): void {
    this.entry(tenantId).ingressBytes += bytes;
  }

  egress(tenantId: string, bytes: number): void {
    this.entry(tenantId).egressBytes += bytes;
  }

  /** Sends the pending batch, or the counts gathered so far as a new one. */
  flush(): Promise<void> {
    return this.reporter ? this.reporter.run() : this.send();
  }

  private async send(): Promise<void> {
    if (!this.pending) {
      if (this.current.size === 0) return;
      this.pending = { batchId: `${this.source}/${++this.sequence}`, entries: [...this.current.values()] };
      this.current = new Map();
    }
    const batch = this.pending;
    try {
      await this.ledger.send(LedgerPattern.RecordUsage, batch);
      this.pending = undefined;
    } catch (error) {
      this.logger.warn({ err: error, batchId: batch.batchId }, 'usage report not delivered; it will be retried');
    }
  }

  /** The hour now, as an instant string: formatted once an hour, not on every request. */
  private currentHour(): string {
    const start = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
    if (start !== this.hourStart) {
      this.hourStart = start;
      this.hour = new Date(start).toISOString();
    }
    return this.hour;
  }

  private entry(tenantId: string): UsageEntry {
    const hour = this.currentHour();
    const key = `${tenantId}|${hour}`;
    let entry = this.current.get(key);
    if (!entry) {
      entry = { tenantId, hour, ingressBytes: 0, egressBytes: 0, requests: { write: 0, read: 0, list: 0, delete: 0 } };
      this.current.set(key, entry);
    }
    return entry;
  }
}
