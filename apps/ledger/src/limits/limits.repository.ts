import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { TenantLimits } from '@ferry/ledger-contracts';

interface LimitsRow {
  tenant_id: string;
  max_concurrent_requests: number | null;
  max_bandwidth_bytes_per_second: string | null;
}

/** Per-tenant traffic limits; a tenant with neither limit has no row. */
@Injectable()
export class LimitsRepository {
  constructor(private readonly db: DataSource) {}

  async set(limits: TenantLimits): Promise<TenantLimits> {
    if (limits.maxConcurrentRequests === null && limits.maxBandwidthBytesPerSecond === null) {
      await this.db.query(`DELETE FROM ledger_tenant_limits WHERE tenant_id = $1`, [limits.tenantId]);
    } else {
      await this.db.query(
        `INSERT INTO ledger_tenant_limits (tenant_id, max_concurrent_requests, max_bandwidth_bytes_per_second) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id) DO UPDATE SET max_concurrent_requests = excluded.max_concurrent_requests,
           max_bandwidth_bytes_per_second = excluded.max_bandwidth_bytes_per_second, updated_at = now()`,
        [limits.tenantId, limits.maxConcurrentRequests, limits.maxBandwidthBytesPerSecond],
      );
    }
    return limits;
  }

  /** One tenant's limits (nulls when it has none), or every tenant that has some. */
  async list(tenantId?: string): Promise<TenantLimits[]> {
    const rows = (await this.db.query(`SELECT * FROM ledger_tenant_limits WHERE $1::uuid IS NULL OR tenant_id = $1 ORDER BY tenant_id`, [
      tenantId ?? null,
    ])) as LimitsRow[];
    if (tenantId && rows.length === 0) return [{ tenantId, maxConcurrentRequests: null, maxBandwidthBytesPerSecond: null }];
    return rows.map((row) => ({
      tenantId: row.tenant_id,
      maxConcurrentRequests: row.max_concurrent_requests,
      maxBandwidthBytesPerSecond: row.max_bandwidth_bytes_per_second === null ? null : Number(row.max_bandwidth_bytes_per_second),
    }));
  }
}
