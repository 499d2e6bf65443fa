import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, Periodic, type Logger } from '@ferry/common';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { GATEWAY_LOGGER } from '../gateway.tokens.js';

/** A body of unknown length (chunked, no decoded length) reserves this much at a time as it grows. */
export const GROWTH_STEP = 64 * 1024 * 1024;

/** Bytes promised to one request by the ledger; grows for bodies of unknown length. */
export interface Reservation {
  /** Bytes covered so far. */
  readonly covered: number;
  /** Reserves more so that `total` bytes are covered; QuotaExceeded when the quota would be passed. */
  extend(total: number): Promise<void>;
}

/**
 * Real-time quotas at the gateway. Every request that adds bytes reserves them before its body is
 * read and releases the reservation once its catalog row has committed (the catalog's counter then
 * holds the bytes) or the request failed. A live gateway renews its reservations; a crashed one's
 * lapse after FERRY_RESERVATION_TTL_SECONDS.
 */
@Injectable()
export class QuotaReservations implements OnModuleInit, OnModuleDestroy {
  private readonly holder = `gateway/${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
  /** reservation id → tenant id, for renewal. */
  private readonly live = new Map<string, string>();
  private renewal?: Periodic;

  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    @Inject(GATEWAY_LOGGER) private readonly logger: Logger,
    private readonly ledger: LedgerClient,
  ) {}

  onModuleInit(): void {
    this.renewal = new Periodic(Math.max(1000, this.config.ledger.reservationTtlMs / 3), () => this.renew(), this.logger, 'reservation renewal');
  }

  async onModuleDestroy(): Promise<void> {
    await this.renewal?.stop();
  }

  /**
   * Runs `work` holding a reservation of `bytes` (0 only checks the tenant is within its quota) and
   * releases it afterwards, whatever happened. `work` must commit to the catalog before it returns.
   */
  async within<T>(tenantId: string, bytes: number, work: (reservation: Reservation) => Promise<T>): Promise<T> {
    const ids: string[] = [];
    let covered = 0;
    /** Asks for `amount`; when refused and `least` is smaller, for `least` (the bytes really needed). */
    const take = async (amount: number, least = amount) => {
      const id = randomUUID();
      const reply = await this.ledger.send(LedgerPattern.Reserve, { tenantId, reservationId: id, bytes: amount, holder: this.holder });
      if (!reply.granted) {
        if (least < amount) return take(least);
        throw new FerryError(
          FerryErrorCode.QuotaExceeded,
          `Quota exceeded: this request needs ${amount} more bytes, but the account already keeps ${reply.keptBytes} ` +
            `and has ${reply.reservedBytes} reserved for uploads in progress, of a ${reply.quotaBytes}-byte quota. ` +
            'Delete data or ask your service provider for a larger quota.',
        );
      }
      ids.push(id);
      this.live.set(id, tenantId);
      covered += amount;
    };
    try {
      await take(bytes);
      const reservation: Reservation = {
        get covered() {
          return covered;
        },
        extend: async (total) => {
          // a step at a time, so a long stream asks rarely; near the quota, exactly what arrived
          if (total > covered) await take(Math.max(total - covered, GROWTH_STEP), total - covered);
        },
      };
      return await work(reservation);
    } finally {
      await this.release(tenantId, ids);
    }
  }

  private async release(tenantId: string, ids: string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) this.live.delete(id);
    try {
      await this.ledger.send(LedgerPattern.Release, { tenantId, reservationIds: ids });
    } catch (error) {
      // the request's outcome stands; the reservation lapses on its own
      this.logger.warn({ err: error, tenantId, reservations: ids.length }, 'could not release quota reservations; they will lapse');
    }
  }

  private async renew(): Promise<void> {
    const ids = [...this.live.keys()];
    for (let at = 0; at < ids.length; at += 1000) {
      try {
        await this.ledger.send(LedgerPattern.Renew, { holder: this.holder, reservationIds: ids.slice(at, at + 1000) });
      } catch (error) {
        this.logger.warn({ err: error }, 'could not renew quota reservations');
        return;
      }
    }
  }
}
