import { Body, Controller, Get, Param, ParseUUIDPipe, Put, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { TenantsRepository } from '@ferry/catalog';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ApiProblems, ApiZodBody, ApiZodResponse } from '../http/openapi.js';
import { ZodPipe } from '../http/zod.pipe.js';

export const limitsSchema = z.strictObject({
  /** Requests of the tenant in progress at once (Veeam's MaxConcurrentTasks); null: no limit. */
  maxConcurrentRequests: z.number().int().min(1).max(100_000).nullable(),
  /** Body bytes per second in and out, over all of the tenant's requests; null: no limit. */
  maxBandwidthBytesPerSecond: z.number().int().min(1024).max(Number.MAX_SAFE_INTEGER).nullable(),
});
const limitsViewSchema = limitsSchema.extend({ tenantId: z.uuid() }).strict();

const TenantParam = () => ApiParam({ name: 'id', description: 'tenant id', schema: { type: 'string', format: 'uuid' } });

/** A tenant's traffic limits, kept by the ledger and enforced by every gateway within seconds. */
@Controller('admin/v1/tenants/:id/limits')
@UseGuards(AdminTokenGuard)
@ApiTags('tenants')
@ApiProblems(401, 403, 500, 503)
export class LimitsController {
  constructor(
    private readonly tenants: TenantsRepository,
    private readonly ledger: LedgerClient,
  ) {}

  @Put()
  @ApiOperation({
    summary: "Set a tenant's concurrency and bandwidth limits",
    description: 'Gateways apply them within FERRY_LIMITS_REFRESH_SECONDS; requests over them get 503 SlowDown, bodies are paced.',
  })
  @TenantParam()
  @ApiZodBody(limitsSchema)
  @ApiZodResponse(200, limitsViewSchema, 'the limits now in force')
  @ApiProblems(400, 404)
  async set(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string, @Body(new ZodPipe(limitsSchema)) body: z.output<typeof limitsSchema>) {
    await this.tenants.get(id);
    return this.ledger.send(LedgerPattern.SetLimits, { tenantId: id, ...body });
  }

  @Get()
  @ApiOperation({ summary: "A tenant's concurrency and bandwidth limits" })
  @TenantParam()
  @ApiZodResponse(200, limitsViewSchema, 'the limits in force (nulls: none)')
  @ApiProblems(400, 404)
  async get(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string) {
    await this.tenants.get(id);
    const { limits } = await this.ledger.send(LedgerPattern.ListLimits, { tenantId: id });
    return limits[0];
  }
}
