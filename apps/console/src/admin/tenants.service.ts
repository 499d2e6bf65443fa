import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { FERRY_CONFIG, tenantContainer, type ResolvedConfig } from '@ferry/config';
import { FerryError, FerryErrorCode, type Logger } from '@ferry/common';
import { CONSOLE_LOGGER } from '../console.tokens.js';
import { JobName, JobQueues } from '@ferry/queue';
import { AccessKeysRepository, VerifyRunsRepository, TenantsRepository, type AccessKeyEntity, type TenantEntity } from '@ferry/catalog';
import { BlobStore, Spool } from '@ferry/storage';
import { TenantKeyring } from '@ferry/packing';
import { LedgerClient, LedgerPattern } from '@ferry/ledger-contracts';
import { AccessKeyFactory } from './access-key.factory.js';
import type { CreateTenantBody, UpdateTenantBody } from './tenants.dto.js';

export interface TenantView {
  id: string;
  name: string;
  quotaBytes: number;
  status: string;
  leaseExpiresAt: string | null;
  blockReads: boolean;
  createdAt: string;
}

export interface UsageView {
  quotaBytes: number;
  logicalBytes: number;
  quotaUsedBytes: number;
  storedBytes: number;
  objects: number;
  pendingBytes: number;
  dedupRatio: number | null;
  compressionRatio: number | null;
}

export const tenantView = (tenant: TenantEntity): TenantView => ({
  id: tenant.id,
  name: tenant.name,
  quotaBytes: tenant.quotaBytes,
  status: tenant.status,
  leaseExpiresAt: tenant.leaseExpiresAt?.toISOString() ?? null,
  blockReads: tenant.blockReads,
  createdAt: tenant.createdAt.toISOString(),
});

export const keyView = (key: AccessKeyEntity) => ({
  accessKeyId: key.accessKeyId,
  description: key.description,
  status: key.status,
  createdAt: key.createdAt.toISOString(),
  revokedAt: key.revokedAt?.toISOString() ?? null,
});

@Injectable()
export class TenantsService {
  constructor(
    @Inject(FERRY_CONFIG) private readonly config: ResolvedConfig,
    private readonly tenants: TenantsRepository,
    private readonly keys: AccessKeysRepository,
    private readonly keyFactory: AccessKeyFactory,
    private readonly blobs: BlobStore,
    private readonly spool: Spool,
    private readonly keyring: TenantKeyring,
    private readonly runs: VerifyRunsRepository,
    private readonly queues: JobQueues,
    private readonly ledger: LedgerClient,
    @Inject(CONSOLE_LOGGER) private readonly logger: Logger,
  ) {}

  async create(body: CreateTenantBody) {
    const id = randomUUID();
    const { record, secretAccessKey } = this.keyFactory.mint('created with the tenant');
    const tenant = await this.tenants.create(
      { id, name: body.name, quotaBytes: body.quotaBytes, leaseExpiresAt: body.leaseExpiresAt, container: tenantContainer(this.config, id) },
      record,
    );
    await this.recordInContainer(id);
    return { ...tenantView(tenant), accessKeyId: record.accessKeyId, secretAccessKey };
  }

  async list(): Promise<TenantView[]> {
    return (await this.tenants.list()).map(tenantView);
  }

  async get(tenantId: string): Promise<TenantView & UsageView> {
    const tenant = await this.tenants.get(tenantId);
    return { ...tenantView(tenant), ...(await this.usageOf(tenant)) };
  }

  async usage(tenantId: string): Promise<UsageView> {
    return this.usageOf(await this.tenants.get(tenantId));
  }

  async rotateDataKey(tenantId: string): Promise<{ dataKeyNumber: number }> {
    await this.tenants.get(tenantId);
    return { dataKeyNumber: await this.keyring.rotate(tenantId) };
  }

  async startVerify(tenantId: string): Promise<{ runId: string; state: 'queued' }> {
    await this.tenants.get(tenantId);
    const runId = await this.runs.create(tenantId);
    await this.queues.add(JobName.VerifyTenant, { tenantId, runId }, { jobId: `verify-${runId}` });
    return { runId, state: 'queued' };
  }

  async verifyRun(tenantId: string, runId: string) {
    const run = await this.runs.get(tenantId, runId);
    return {
      runId: run.id,
      state: run.state,
      requestedAt: run.requestedAt.toISOString(),
      startedAt: run.startedAt?.toISOString() ?? null,
      finishedAt: run.finishedAt?.toISOString() ?? null,
      report: run.report,
    };
  }

  async update(tenantId: string, body: UpdateTenantBody): Promise<TenantView> {
    const status = body.suspended === undefined ? undefined : body.suspended ? 'suspended' : 'active';
    const updated = await this.tenants.update(tenantId, { quotaBytes: body.quotaBytes, status, leaseExpiresAt: body.leaseExpiresAt, blockReads: body.blockReads });
    await this.recordInContainer(tenantId);
    return tenantView(updated);
  }

  /** Soft-quota alerts, from the ledger that raises them. */
  async alerts(tenantId: string, limit: number) {
    await this.tenants.get(tenantId);
    return this.ledger.send(LedgerPattern.ListAlerts, { tenantId, limit });
  }

  /**
   * Refuses while the tenant owns buckets, unless forced; forcing removes the container and the
   * local spool first, then every catalog row.
   */
  async delete(tenantId: string, force: boolean): Promise<void> {
    const tenant = await this.tenants.get(tenantId);
    if (!force && (await this.tenants.holdsData(tenantId))) {
      throw new FerryError(FerryErrorCode.TenantHasData, 'tenant still owns buckets; delete them first or pass force=true');
    }
    await this.tenants.update(tenantId, { status: 'suspended' });
    await this.blobs.deleteContainer(tenant.container);
    await this.spool.removeTenant(tenant.id);
    await this.tenants.delete(tenantId);
  }

  async createKey(tenantId: string, description: string | undefined) {
    await this.tenants.get(tenantId);
    const { record, secretAccessKey } = this.keyFactory.mint(description ?? null);
    const key = await this.keys.create(tenantId, record);
    await this.recordInContainer(tenantId);
    return { ...keyView(key), secretAccessKey };
  }

  async listKeys(tenantId: string) {
    await this.tenants.get(tenantId);
    return (await this.keys.list(tenantId)).map(keyView);
  }

  async revokeKey(tenantId: string, accessKeyId: string) {
    await this.tenants.get(tenantId);
    const revoked = keyView(await this.keys.revoke(tenantId, accessKeyId));
    await this.recordInContainer(tenantId);
    return revoked;
  }

  /**
   * Has a worker write the tenant's record to its container (a job, so a Blob outage is waited out).
   * The change itself stands either way: a lost job only leaves the container's record older.
   */
  private async recordInContainer(tenantId: string): Promise<void> {
    await this.queues
      .add(JobName.WriteTenantRecord, { tenantId }, { jobId: `tenant-record-${tenantId}-${Date.now()}`, removeOnComplete: true })
      .catch((error: unknown) => this.logger.warn({ err: error, tenantId }, 'could not enqueue the tenant record; the container keeps the previous one'));
  }

  private async usageOf(tenant: TenantEntity): Promise<UsageView> {
    return { quotaBytes: tenant.quotaBytes, ...(await this.tenants.usage(tenant.id)) };
  }
}
