import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { ApiNoContentResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ApiProblem, ApiProblems, ApiZodBody, ApiZodQuery, ApiZodResponse } from '../http/openapi.js';
import { ZodPipe } from '../http/zod.pipe.js';
import {
  createKeySchema,
  createTenantSchema,
  deleteTenantQuerySchema,
  alertsQuerySchema,
  updateTenantSchema,
  type CreateTenantBody,
  type UpdateTenantBody,
} from './tenants.dto.js';
import { TenantsService } from './tenants.service.js';
import { CatalogRebuildService } from './catalog-rebuild.service.js';
import {
  accessKeyListSchema,
  accessKeySchema,
  alertListSchema,
  createdAccessKeySchema,
  createdTenantSchema,
  dataKeySchema,
  rebuildReportSchema,
  tenantListSchema,
  tenantSchema,
  tenantWithUsageSchema,
  usageSchema,
  verifyQueuedSchema,
  verifyRunSchema,
} from './tenants.openapi.js';

const tenantId = new ParseUUIDPipe({ version: '4' });
const runId = new ParseUUIDPipe({ version: '4' });

/** The tenant in the path: 400 when it is not a UUID v4, 404 when there is no such tenant. */
const TenantParam = () => ApiParam({ name: 'id', description: 'tenant id', schema: { type: 'string', format: 'uuid' } });

@Controller('admin/v1/tenants')
@UseGuards(AdminTokenGuard)
@ApiTags('tenants')
@ApiProblems(401, 403, 500)
export class TenantsController {
  constructor(
    private readonly tenants: TenantsService,
    private readonly rebuilder: CatalogRebuildService,
  ) {}

  @Post()
  @ApiOperation({ summary: 'Create a tenant and its first access key', description: 'The secret access key is in this answer only.' })
  @ApiZodBody(createTenantSchema)
  @ApiZodResponse(201, createdTenantSchema, 'the tenant, with its first access key and secret')
  @ApiProblems(400)
  @ApiProblem(409, 'a tenant with this name exists (TenantExists)')
  create(@Body(new ZodPipe(createTenantSchema)) body: CreateTenantBody) {
    return this.tenants.create(body);
  }

  @Get()
  @ApiOperation({ summary: 'List tenants' })
  @ApiZodResponse(200, tenantListSchema, 'every tenant')
  async list() {
    return { tenants: await this.tenants.list() };
  }

  @Get(':id')
  @ApiOperation({ summary: 'A tenant with its usage' })
  @TenantParam()
  @ApiZodResponse(200, tenantWithUsageSchema, 'the tenant and its usage')
  @ApiProblems(400, 404)
  get(@Param('id', tenantId) id: string) {
    return this.tenants.get(id);
  }

  @Get(':id/usage')
  @ApiOperation({ summary: "A tenant's usage: logical, quota-counted, stored and pending bytes" })
  @TenantParam()
  @ApiZodResponse(200, usageSchema, 'the usage')
  @ApiProblems(400, 404)
  usage(@Param('id', tenantId) id: string) {
    return this.tenants.usage(id);
  }

  /** Soft-quota alerts (80 % and 95 % by default), newest first; 503 while the ledger is down. */
  @Get(':id/alerts')
  @ApiOperation({ summary: "A tenant's soft-quota alerts, newest first" })
  @TenantParam()
  @ApiZodQuery(alertsQuerySchema)
  @ApiZodResponse(200, alertListSchema, 'the alerts')
  @ApiProblems(400, 404)
  @ApiProblem(503, 'the ledger is unavailable')
  alerts(@Param('id', tenantId) id: string, @Query(new ZodPipe(alertsQuerySchema)) query: { limit: number }) {
    return this.tenants.alerts(id, query.limit);
  }

  /** A new data key for the tenant's new packs; packs already written keep theirs (docs/format.md). */
  @Post(':id/keys/rotate')
  @HttpCode(200)
  @ApiOperation({ summary: 'Rotate the data key of the tenant\'s new packs', description: 'Packs already written keep their key.' })
  @TenantParam()
  @ApiZodResponse(200, dataKeySchema, 'the new data key')
  @ApiProblems(400, 404)
  rotateDataKey(@Param('id', tenantId) id: string) {
    return this.tenants.rotateDataKey(id);
  }

  /** Rebuilds the tenant's (empty) catalog from its container alone, after Postgres was lost. */
  @Post(':id/catalog/rebuild')
  @HttpCode(200)
  @ApiOperation({
    summary: "Rebuild the tenant's catalog from its container",
    description: 'For when Postgres was lost: fills an empty catalog from the keyring, pack indexes and catalog events in the container.',
  })
  @TenantParam()
  @ApiZodResponse(200, rebuildReportSchema, 'what was restored, and what could not be')
  @ApiProblems(400, 404)
  @ApiProblem(409, "the tenant's catalog is not empty (TenantHasData)")
  rebuildCatalog(@Param('id', tenantId) id: string) {
    return this.rebuilder.rebuild(id);
  }

  /** Starts a verify run over the tenant's packs (a worker job); its report is read below. */
  @Post(':id/verify')
  @HttpCode(202)
  @ApiOperation({ summary: "Start a verify run over the tenant's packs", description: 'A worker job; read its report with GET …/verify/{runId}.' })
  @TenantParam()
  @ApiZodResponse(202, verifyQueuedSchema, 'the run is queued')
  @ApiProblems(400, 404)
  startVerify(@Param('id', tenantId) id: string) {
    return this.tenants.startVerify(id);
  }

  @Get(':id/verify/:runId')
  @ApiOperation({ summary: 'The state and report of a verify run' })
  @TenantParam()
  @ApiParam({ name: 'runId', description: 'verify run id', schema: { type: 'string', format: 'uuid' } })
  @ApiZodResponse(200, verifyRunSchema, 'the run')
  @ApiProblems(400)
  @ApiProblem(404, 'no such run for this tenant')
  verifyRun(@Param('id', tenantId) id: string, @Param('runId', runId) run: string) {
    return this.tenants.verifyRun(id, run);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Change quota, suspension, lease end or read blocking', description: 'At least one field; `leaseExpiresAt: null` clears the lease end.' })
  @TenantParam()
  @ApiZodBody(updateTenantSchema, 'at least one field')
  @ApiZodResponse(200, tenantSchema, 'the tenant as changed')
  @ApiProblems(400, 404)
  update(@Param('id', tenantId) id: string, @Body(new ZodPipe(updateTenantSchema)) body: UpdateTenantBody) {
    return this.tenants.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a tenant', description: 'Refused while it owns buckets unless force=true, which removes its container and spool first.' })
  @TenantParam()
  @ApiZodQuery(deleteTenantQuerySchema)
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiProblems(400, 404)
  @ApiProblem(409, 'the tenant still owns buckets and force is not true (TenantHasData)')
  async delete(@Param('id', tenantId) id: string, @Query(new ZodPipe(deleteTenantQuerySchema)) query: { force?: string }) {
    await this.tenants.delete(id, query.force === 'true');
  }

  @Post(':id/keys')
  @ApiOperation({ summary: 'Another access key for the tenant', description: 'The secret access key is in this answer only.' })
  @TenantParam()
  @ApiZodBody(createKeySchema)
  @ApiZodResponse(201, createdAccessKeySchema, 'the key, with its secret')
  @ApiProblems(400, 404)
  createKey(@Param('id', tenantId) id: string, @Body(new ZodPipe(createKeySchema)) body: { description?: string }) {
    return this.tenants.createKey(id, body.description);
  }

  @Get(':id/keys')
  @ApiOperation({ summary: "The tenant's access keys (never their secrets)" })
  @TenantParam()
  @ApiZodResponse(200, accessKeyListSchema, 'the keys, revoked ones included')
  @ApiProblems(400, 404)
  async listKeys(@Param('id', tenantId) id: string) {
    return { keys: await this.tenants.listKeys(id) };
  }

  @Delete(':id/keys/:accessKeyId')
  @ApiOperation({ summary: 'Revoke an access key' })
  @TenantParam()
  @ApiParam({ name: 'accessKeyId', description: 'the access key id', schema: { type: 'string' } })
  @ApiZodResponse(200, accessKeySchema, 'the key as revoked')
  @ApiProblems(400)
  @ApiProblem(404, 'no such tenant, or no such key for this tenant')
  revokeKey(@Param('id', tenantId) id: string, @Param('accessKeyId') accessKeyId: string) {
    return this.tenants.revokeKey(id, accessKeyId);
  }
}
