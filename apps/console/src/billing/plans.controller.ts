import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Put, UseGuards } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { TenantsRepository } from '@ferry/catalog';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ApiProblems, ApiZodBody, ApiZodResponse } from '../http/openapi.js';
import { ZodPipe } from '../http/zod.pipe.js';
import { assignPlanSchema, createPlanSchema, updatePlanSchema, type AssignPlanBody, type CreatePlanBody, type UpdatePlanBody } from './billing.dto.js';
import { assignmentListSchema, planListSchema, planSchema } from './billing.openapi.js';

const IdParam = (description: string) => ApiParam({ name: 'id', description, schema: { type: 'string', format: 'uuid' } });

/** Plans and prices, and which tenant is on which plan since when. The ledger owns them. */
@Controller('admin/v1')
@UseGuards(AdminTokenGuard)
@ApiTags('billing')
@ApiProblems(401, 403, 500, 503)
export class PlansController {
  constructor(
    private readonly ledger: LedgerClient,
    private readonly tenants: TenantsRepository,
  ) {}

  @Post('plans')
  @ApiOperation({ summary: 'Create a plan', description: 'Prices are decimal strings in the plan currency; GB means 2^30 bytes.' })
  @ApiZodBody(createPlanSchema)
  @ApiZodResponse(201, planSchema, 'the plan')
  @ApiProblems(400, 409)
  createPlan(@Body(new ZodPipe(createPlanSchema)) body: CreatePlanBody) {
    return this.ledger.send(LedgerPattern.CreatePlan, body);
  }

  @Get('plans')
  @ApiOperation({ summary: 'List plans' })
  @ApiZodResponse(200, planListSchema, 'every plan, by name')
  listPlans() {
    return this.ledger.send(LedgerPattern.ListPlans, {});
  }

  @Get('plans/:id')
  @ApiOperation({ summary: 'Get a plan' })
  @IdParam('plan id')
  @ApiZodResponse(200, planSchema, 'the plan')
  @ApiProblems(400, 404)
  getPlan(@Param('id', new ParseUUIDPipe()) id: string) {
    return this.ledger.send(LedgerPattern.GetPlan, { planId: id });
  }

  @Patch('plans/:id')
  @ApiOperation({ summary: 'Change a plan', description: 'Applies to every month not yet invoiced; issued invoices keep their prices.' })
  @IdParam('plan id')
  @ApiZodBody(updatePlanSchema)
  @ApiZodResponse(200, planSchema, 'the plan as changed')
  @ApiProblems(400, 404, 409)
  updatePlan(@Param('id', new ParseUUIDPipe()) id: string, @Body(new ZodPipe(updatePlanSchema)) body: UpdatePlanBody) {
    return this.ledger.send(LedgerPattern.UpdatePlan, { planId: id, changes: body });
  }

  @Delete('plans/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a plan nobody was ever on' })
  @IdParam('plan id')
  @ApiZodResponse(204, planSchema.optional(), 'deleted')
  @ApiProblems(400, 404, 409)
  async deletePlan(@Param('id', new ParseUUIDPipe()) id: string): Promise<void> {
    await this.ledger.send(LedgerPattern.DeletePlan, { planId: id });
  }

  @Put('tenants/:id/plan')
  @ApiOperation({
    summary: "Put a tenant on a plan",
    description: 'From effectiveFrom (on the hour; now when absent) until the next assignment. A change within a month is prorated.',
  })
  @IdParam('tenant id')
  @ApiZodBody(assignPlanSchema)
  @ApiZodResponse(200, assignmentListSchema, "the tenant's plan history")
  @ApiProblems(400, 404)
  async assignPlan(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string, @Body(new ZodPipe(assignPlanSchema)) body: AssignPlanBody) {
    await this.tenants.get(id);
    return this.ledger.send(LedgerPattern.AssignPlan, { tenantId: id, ...body });
  }

  @Get('tenants/:id/plan')
  @ApiOperation({ summary: "A tenant's plan history", description: 'Oldest first; the last one (effectiveTo null) is in force.' })
  @IdParam('tenant id')
  @ApiZodResponse(200, assignmentListSchema, "the tenant's plan history")
  @ApiProblems(400, 404)
  async tenantPlans(@Param('id', new ParseUUIDPipe({ version: '4' })) id: string) {
    await this.tenants.get(id);
    return this.ledger.send(LedgerPattern.TenantPlans, { tenantId: id });
  }
}
