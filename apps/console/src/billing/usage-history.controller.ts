import { Controller, Get, Param, ParseUUIDPipe, Query, UseGuards } from '@nestjs/common';
import { TenantsRepository } from '@ferry/catalog';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ZodPipe } from '../http/zod.pipe.js';
import { usageHistoryQuerySchema, type UsageHistoryQuery } from './usage-history.dto.js';

/** A tenant's metered usage over time, from the ledger (503 while it is down). */
@Controller('admin/v1/tenants/:id/usage/history')
@UseGuards(AdminTokenGuard)
export class UsageHistoryController {
  constructor(
    private readonly tenants: TenantsRepository,
    private readonly ledger: LedgerClient,
  ) {}

  @Get()
  async history(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string, @Query(new ZodPipe(usageHistoryQuerySchema)) query: UsageHistoryQuery) {
    await this.tenants.get(id);
    return { tenantId: id, from: query.from, to: query.to, ...(await this.ledger.send(LedgerPattern.UsageHistory, { tenantId: id, ...query })) };
  }
}
