import { Controller, Inject } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { DataSource } from 'typeorm';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { LedgerPattern } from '@ferry/ledger-contracts';
import { parse, type Reply } from './payload.js';
import { QuotaRepository } from './quota/quota.repository.js';
import { QuotaService } from './quota/quota.service.js';
import { UsageRepository } from './metering/usage.repository.js';
import { LimitsRepository } from './limits/limits.repository.js';


/** The ledger's message edge: every payload is checked against its contract before anything runs. */
@Controller()
export class LedgerController {
  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly db: DataSource,
    private readonly quota: QuotaService,
    private readonly quotas: QuotaRepository,
    private readonly usage: UsageRepository,
    private readonly limits: LimitsRepository,
  ) {}

  @MessagePattern(LedgerPattern.Ping)
  async ping(@Payload() raw: unknown): Reply<LedgerPattern.Ping> {
    parse(LedgerPattern.Ping, raw);
    await this.db.query('SELECT 1');
    return { ok: true, at: new Date().toISOString(), database: 'up' };
  }

  @MessagePattern(LedgerPattern.Reserve)
  reserve(@Payload() raw: unknown): Reply<LedgerPattern.Reserve> {
    return this.quota.reserve(parse(LedgerPattern.Reserve, raw));
  }

  @MessagePattern(LedgerPattern.Release)
  async release(@Payload() raw: unknown): Reply<LedgerPattern.Release> {
    const request = parse(LedgerPattern.Release, raw);
    return { released: await this.quotas.release(request.tenantId, request.reservationIds) };
  }

  @MessagePattern(LedgerPattern.Renew)
  async renew(@Payload() raw: unknown): Reply<LedgerPattern.Renew> {
    const request = parse(LedgerPattern.Renew, raw);
    return { renewed: await this.quotas.renew(request.holder, request.reservationIds, this.config.ledger.reservationTtlMs) };
  }

  @MessagePattern(LedgerPattern.QuotaStatus)
  status(@Payload() raw: unknown): Reply<LedgerPattern.QuotaStatus> {
    return this.quota.status(parse(LedgerPattern.QuotaStatus, raw).tenantId);
  }

  @MessagePattern(LedgerPattern.ListAlerts)
  async alerts(@Payload() raw: unknown): Reply<LedgerPattern.ListAlerts> {
    const request = parse(LedgerPattern.ListAlerts, raw);
    return { alerts: await this.quotas.alerts(request.tenantId, request.limit) };
  }

  @MessagePattern(LedgerPattern.SetLimits)
  setLimits(@Payload() raw: unknown): Reply<LedgerPattern.SetLimits> {
    return this.limits.set(parse(LedgerPattern.SetLimits, raw));
  }

  @MessagePattern(LedgerPattern.ListLimits)
  async listLimits(@Payload() raw: unknown): Reply<LedgerPattern.ListLimits> {
    return { limits: await this.limits.list(parse(LedgerPattern.ListLimits, raw).tenantId) };
  }

  @MessagePattern(LedgerPattern.RecordUsage)
  async recordUsage(@Payload() raw: unknown): Reply<LedgerPattern.RecordUsage> {
    const request = parse(LedgerPattern.RecordUsage, raw);
    return { counted: await this.usage.record(request.batchId, request.entries) };
  }

  @MessagePattern(LedgerPattern.UsageHistory)
  async usageHistory(@Payload() raw: unknown): Reply<LedgerPattern.UsageHistory> {
    const query = parse(LedgerPattern.UsageHistory, raw);
    return { granularity: query.granularity, periods: await this.usage.history(query.tenantId, query.granularity, query.from, query.to) };
  }
}
