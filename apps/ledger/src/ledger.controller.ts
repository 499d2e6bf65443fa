import { Controller } from '@nestjs/common';
import { MessagePattern, Payload } from '@nestjs/microservices';
import { DataSource } from 'typeorm';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { LedgerPattern, ledgerPayloads, type LedgerPayload, type LedgerReplies } from '@ferry/ledger-contracts';

/**
 * The quota and billing service. For now it answers a ping that proves the transport and its
 * database; quotas, metering and billing arrive with the ledger issue.
 */
@Controller()
export class LedgerController {
  constructor(private readonly db: DataSource) {}

  @MessagePattern(LedgerPattern.Ping)
  async ping(@Payload() raw: unknown): Promise<LedgerReplies[LedgerPattern.Ping]> {
    const payload: LedgerPayload<LedgerPattern.Ping> = parse(LedgerPattern.Ping, raw);
    void payload;
    await this.db.query('SELECT 1');
    return { ok: true, at: new Date().toISOString(), database: 'up' };
  }
}

function parse<P extends LedgerPattern>(pattern: P, raw: unknown): LedgerPayload<P> {
  const parsed = ledgerPayloads[pattern].safeParse(raw);
  if (!parsed.success) throw new FerryError(FerryErrorCode.ValidationFailed, `${pattern}: ${parsed.error.message}`);
  return parsed.data as LedgerPayload<P>;
}
