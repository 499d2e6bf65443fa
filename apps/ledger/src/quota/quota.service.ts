import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode } from '@ferry/common';
import type { LedgerPayload, LedgerPattern, LedgerReplies, QuotaStatus } from '@ferry/ledger-contracts';
import { QuotaRepository } from './quota.repository.js';

/**
 * Hard quotas in real time. A reservation is granted only while kept + reserved + asked ≤ quota,
 * decided in one statement per reservation; crossing a soft threshold on the way opens an alert.
 */
@Injectable()
export class QuotaService {
  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly quotas: QuotaRepository,
  ) {}

  async reserve(request: LedgerPayload<LedgerPattern.Reserve>): Promise<LedgerReplies[LedgerPattern.Reserve]> {
    const result = await this.quotas.reserve(request.tenantId, request.reservationId, request.bytes, this.config.ledger.reservationTtlMs, request.holder);
    if (!result) throw new FerryError(FerryErrorCode.TenantNotFound, `tenant ${request.tenantId} does not exist`);
    // a refusal means the tenant is at its limit: that too is worth an alert at every threshold
    const used = result.keptBytes + result.reservedBytes + (result.granted ? 0 : request.bytes);
    await this.raiseAlerts(request.tenantId, used, result.quotaBytes);
    return result;
  }

  async status(tenantId: string): Promise<QuotaStatus> {
    const status = await this.quotas.status(tenantId);
    if (!status) throw new FerryError(FerryErrorCode.TenantNotFound, `tenant ${tenantId} does not exist`);
    return status;
  }

  private async raiseAlerts(tenantId: string, usedBytes: number, quotaBytes: number): Promise<void> {
    const reached = this.config.ledger.alertThresholds.filter((percent) => usedBytes * 100 >= percent * quotaBytes);
    if (reached.length > 0) await this.quotas.raiseAlerts(tenantId, reached, usedBytes, quotaBytes);
  }
}
