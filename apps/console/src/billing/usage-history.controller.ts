import { Controller, Get, Param, ParseUUIDPipe, Query, UseGuards } from '@nestjs/common';
import { TenantsRepository } from '@ferry/catalog';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ApiProblems, ApiZodQuery, ApiZodResponse } from '../http/openapi.js';
import { usageHistorySchema } from './billing.openapi.js';
import { ZodPipe } from '../http/zod.pipe.js';
import { usageHistoryQuerySchema, type UsageHistoryQuery } from './usage-history.dto.js';

/** A tenant's metered usage over time, from the ledger (503 while it is down). */
@Controller('admin/v1/tenants/:id/usage/history')
@UseGuards(AdminTokenGuard)
@ApiTags('billing')
@ApiProblems(401, 403, 500, 503)
export class UsageHistoryController {
  constructor(
    private readonly tenants: TenantsRepository,
    private readonly ledger: LedgerClient,
  ) {}

  @Get()
  @ApiOperation({ summary: "A tenant's metered usage over time", description: 'Requests by class, bytes in and out, and stored byte-hours (logical and physical), per hour or per day (UTC).' })
  @ApiParam({ name: 'id', description: 'tenant id', schema: { type: 'string', format: 'uuid' } })
  @ApiZodQuery(usageHistoryQuerySchema)
  @ApiZodResponse(200, usageHistorySchema, 'the periods with usage, oldest first')
  @ApiProblems(400, 404)
  async history(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string, @Query(new ZodPipe(usageHistoryQuerySchema)) query: UsageHistoryQuery) {
    await this.tenants.get(id);
    return { tenantId: id, from: query.from, to: query.to, ...(await this.ledger.send(LedgerPattern.UsageHistory, { tenantId: id, ...query })) };
  }
}
