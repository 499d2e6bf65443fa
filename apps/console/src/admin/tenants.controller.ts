import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Patch, Post, Query, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from '../http/admin-token.guard.js';
import { ZodPipe } from '../http/zod.pipe.js';
import {
  createKeySchema,
  createTenantSchema,
  deleteTenantQuerySchema,
  updateTenantSchema,
  type CreateTenantBody,
  type UpdateTenantBody,
} from './tenants.dto.js';
import { TenantsService } from './tenants.service.js';
import { CatalogRebuildService } from './catalog-rebuild.service.js';

const tenantId = new ParseUUIDPipe({ version: '4' });
const runId = new ParseUUIDPipe({ version: '4' });

@Controller('admin/v1/tenants')
@UseGuards(AdminTokenGuard)
export class TenantsController {
  constructor(
    private readonly tenants: TenantsService,
    private readonly rebuilder: CatalogRebuildService,
  ) {}

  @Post()
  create(@Body(new ZodPipe(createTenantSchema)) body: CreateTenantBody) {
    return this.tenants.create(body);
  }

  @Get()
  async list() {
    return { tenants: await this.tenants.list() };
  }

  @Get(':id')
  get(@Param('id', tenantId) id: string) {
    return this.tenants.get(id);
  }

  @Get(':id/usage')
  usage(@Param('id', tenantId) id: string) {
    return this.tenants.usage(id);
  }

  /** A new data key for the tenant's new packs; packs already written keep theirs (docs/format.md). */
  @Post(':id/keys/rotate')
  @HttpCode(200)
  rotateDataKey(@Param('id', tenantId) id: string) {
    return this.tenants.rotateDataKey(id);
  }

  /** Rebuilds the tenant's (empty) catalog from its container alone, after Postgres was lost. */
  @Post(':id/catalog/rebuild')
  @HttpCode(200)
  rebuildCatalog(@Param('id', tenantId) id: string) {
    return this.rebuilder.rebuild(id);
  }

  /** Starts a verify run over the tenant's packs (a worker job); its report is read below. */
  @Post(':id/verify')
  @HttpCode(202)
  startVerify(@Param('id', tenantId) id: string) {
    return this.tenants.startVerify(id);
  }

  @Get(':id/verify/:runId')
  verifyRun(@Param('id', tenantId) id: string, @Param('runId', runId) run: string) {
    return this.tenants.verifyRun(id, run);
  }

  @Patch(':id')
  update(@Param('id', tenantId) id: string, @Body(new ZodPipe(updateTenantSchema)) body: UpdateTenantBody) {
    return this.tenants.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  async delete(@Param('id', tenantId) id: string, @Query(new ZodPipe(deleteTenantQuerySchema)) query: { force?: string }) {
    await this.tenants.delete(id, query.force === 'true');
  }

  @Post(':id/keys')
  createKey(@Param('id', tenantId) id: string, @Body(new ZodPipe(createKeySchema)) body: { description?: string }) {
    return this.tenants.createKey(id, body.description);
  }

  @Get(':id/keys')
  async listKeys(@Param('id', tenantId) id: string) {
    return { keys: await this.tenants.listKeys(id) };
  }

  @Delete(':id/keys/:accessKeyId')
  revokeKey(@Param('id', tenantId) id: string, @Param('accessKeyId') accessKeyId: string) {
    return this.tenants.revokeKey(id, accessKeyId);
  }
}
