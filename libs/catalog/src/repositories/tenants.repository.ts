import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource } from 'typeorm';
import { AccessKeyEntity } from '../entities/access-key.entity.js';
import { TenantEntity, type TenantStatus } from '../entities/tenant.entity.js';
import { pgCode, PG_UNIQUE_VIOLATION } from './pg-errors.js';
import { preparedRows } from './prepared.js';
import { RawRows } from './raw-rows.js';

export interface NewTenant {
  id: string;
  name: string;
  quotaBytes: number;
  container: string;
  leaseExpiresAt?: Date | null;
}

export interface NewAccessKey {
  accessKeyId: string;
  secretSealed: Buffer;
  masterKeyId: string;
  description: string | null;
}

export interface TenantUsage {
  logicalBytes: number;
  /** What the quota counts: logicalBytes plus the parts of unfinished multipart uploads (docs/billing.md). */
  quotaUsedBytes: number;
  objects: number;
  storedBytes: number;
  /** Acknowledged bytes still only in the spool, waiting to be repacked into Blob. */
  pendingBytes: number;
  /** Logical bytes of repacked objects per distinct chunk byte; null before the first pack. */
  dedupRatio: number | null;
  /** Distinct chunk bytes per stored frame byte; null before the first pack. */
  compressionRatio: number | null;
}

/** What the operator may change on a tenant; undefined leaves a setting as it is. */
export interface TenantChanges {
  quotaBytes?: number;
  status?: TenantStatus;
  leaseExpiresAt?: Date | null;
  blockReads?: boolean;
}

/** Operator-level access to tenants: the only catalog code that is not scoped to one tenant. */
@Injectable()
export class TenantsRepository {
  private rows?: RawRows<TenantEntity>;

  constructor(private readonly db: DataSource) {}

  async create(tenant: NewTenant, firstKey: NewAccessKey): Promise<TenantEntity> {
    try {
      return await this.db.transaction(async (tx) => {
        await tx.insert(TenantEntity, { ...tenant, leaseExpiresAt: tenant.leaseExpiresAt ?? null, blockReads: false, status: 'active' });
        await tx.insert(AccessKeyEntity, { ...firstKey, tenantId: tenant.id, status: 'active', revokedAt: null });
        return tx.findOneByOrFail(TenantEntity, { id: tenant.id });
      });
    } catch (error) {
      if (pgCode(error) === PG_UNIQUE_VIOLATION) {
        throw new FerryError(FerryErrorCode.TenantExists, `a tenant named "${tenant.name}" already exists`);
      }
      throw error;
    }
  }

  list(): Promise<TenantEntity[]> {
    return this.db.getRepository(TenantEntity).find({ order: { createdAt: 'ASC' } });
  }

  /** Plain SQL: the worker reads the tenant for every object it repacks (see RawRows). */
  async get(tenantId: string): Promise<TenantEntity> {
    this.rows ??= new RawRows(this.db, TenantEntity, 't');
    const [row] = await preparedRows(this.db, `SELECT ${this.rows.columns} FROM tenants t WHERE t.id = $1`, [tenantId]);
    if (!row) throw new FerryError(FerryErrorCode.TenantNotFound, `no tenant ${tenantId}`);
    return this.rows.map(row);
  }

  async update(tenantId: string, changes: TenantChanges): Promise<TenantEntity> {
    await this.get(tenantId);
    const set = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) as TenantChanges;
    if (Object.keys(set).length > 0) await this.db.getRepository(TenantEntity).update({ id: tenantId }, set);
    return this.get(tenantId);
  }

  /**
   * What the tenant keeps (latest and noncurrent versions, in-flight multipart parts excluded) and
   * what that costs in Blob: its packs, overhead included, plus any object forwarded as a plain blob
   * before the repackaging engine. The ratios compare the logical bytes of repacked objects with the
   * distinct chunk bytes they name (dedup) and those with the frames stored for them (compression).
   */
  async usage(tenantId: string): Promise<TenantUsage> {
    const [row] = (await this.db.query(
      `SELECT coalesce(sum(size) FILTER (WHERE NOT is_delete_marker), 0)::bigint AS logical,
              count(*) FILTER (WHERE NOT is_delete_marker)::bigint AS objects,
              coalesce(sum(size) FILTER (WHERE state = 'stored' AND blob_name IS NOT NULL), 0)::bigint AS plain,
              coalesce(sum(size) FILTER (WHERE packed), 0)::bigint AS packed,
              coalesce(sum(size) FILTER (WHERE state = 'staged'), 0)::bigint AS pending,
              (SELECT coalesce(sum(size), 0)::bigint FROM packs WHERE tenant_id = $1 AND state = 'stored') AS packs,
              (SELECT coalesce(sum(plain_length), 0)::bigint FROM chunks WHERE tenant_id = $1 AND pack_id IS NOT NULL) AS unique_plain,
              (SELECT coalesce(sum(frame_length), 0)::bigint FROM chunks WHERE tenant_id = $1 AND pack_id IS NOT NULL) AS frames,
              (SELECT coalesce(sum(kept_bytes), 0)::bigint FROM tenant_usage WHERE tenant_id = $1) AS kept
         FROM objects WHERE tenant_id = $1`,
      [tenantId],
    )) as { logical: string; objects: string; plain: string; packed: string; pending: string; packs: string; unique_plain: string; frames: string; kept: string }[];
    const ratio = (numerator: number, denominator: number) => (denominator > 0 ? Math.round((numerator / denominator) * 1000) / 1000 : null);
    return {
      logicalBytes: Number(row.logical),
      quotaUsedBytes: Number(row.kept),
      objects: Number(row.objects),
      storedBytes: Number(row.plain) + Number(row.packs),
      pendingBytes: Number(row.pending),
      dedupRatio: ratio(Number(row.packed), Number(row.unique_plain)),
      compressionRatio: ratio(Number(row.unique_plain), Number(row.frames)),
    };
  }

  /**
   * The tenant's hard quota and the bytes it keeps against it, from the trigger-kept counter (one
   * indexed row, no scan): cheap enough to answer on every request. No counter row yet counts as 0.
   */
  async capacity(tenantId: string): Promise<{ quotaBytes: number; usedBytes: number }> {
    const rows = (await this.db.query(
      `SELECT t.quota_bytes, coalesce(u.kept_bytes, 0) AS kept_bytes
         FROM tenants t LEFT JOIN tenant_usage u ON u.tenant_id = t.id
        WHERE t.id = $1`,
      [tenantId],
    )) as { quota_bytes: string; kept_bytes: string }[];
    const row = rows[0];
    if (!row) throw new FerryError(FerryErrorCode.TenantNotFound, `no tenant ${tenantId}`);
    return { quotaBytes: Number(row.quota_bytes), usedBytes: Number(row.kept_bytes) };
  }

  /**
   * Brings back a tenant row and its access keys as a container's record holds them (catalog
   * rebuild after Postgres was lost): same id, same sealed secrets, so clients work unchanged.
   */
  async restore(tenant: Omit<TenantEntity, 'updatedAt'>, keys: Omit<AccessKeyEntity, 'tenantId'>[]): Promise<TenantEntity> {
    try {
      return await this.db.transaction(async (tx) => {
        await tx.insert(TenantEntity, tenant);
        if (keys.length > 0) await tx.insert(AccessKeyEntity, keys.map((key) => ({ ...key, tenantId: tenant.id })));
        return tx.findOneByOrFail(TenantEntity, { id: tenant.id });
      });
    } catch (error) {
      if (pgCode(error) === PG_UNIQUE_VIOLATION) {
        throw new FerryError(FerryErrorCode.TenantExists, `a tenant named "${tenant.name}", or one of its access keys, already exists`);
      }
      throw error;
    }
  }

  /** True when the tenant still owns buckets (hence possibly data) or unfinished uploads. */
  async holdsData(tenantId: string): Promise<boolean> {
    const [row] = (await this.db.query(
      `SELECT EXISTS (SELECT 1 FROM buckets WHERE tenant_id = $1) AS held`,
      [tenantId],
    )) as { held: boolean }[];
    return row.held;
  }

  /** Removes the tenant and, by cascade, every row it owns. The caller removes its container. */
  async delete(tenantId: string): Promise<void> {
    await this.db.getRepository(TenantEntity).delete({ id: tenantId });
  }
}
