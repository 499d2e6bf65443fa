import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

export interface TenantKeyRow {
  kind: 'chunk-id' | 'data';
  number: number;
  masterKeyId: string;
  wrapped: Buffer;
  createdAt: Date;
}

/** The tenant's keys, wrapped by the operator's master key (docs/format.md, "Keys"). */
@Injectable()
export class TenantKeysRepository {
  constructor(private readonly db: DataSource) {}

  async list(tenantId: string): Promise<TenantKeyRow[]> {
    const rows = (await this.db.query(
      `SELECT kind, number, master_key_id, wrapped, created_at FROM tenant_keys WHERE tenant_id = $1 ORDER BY kind, number`,
      [tenantId],
    )) as { kind: TenantKeyRow['kind']; number: number; master_key_id: string; wrapped: Buffer; created_at: Date }[];
    return rows.map((row) => ({
      kind: row.kind,
      number: row.number,
      masterKeyId: row.master_key_id,
      wrapped: row.wrapped,
      createdAt: row.created_at,
    }));
  }

  /** Adds a key unless one of that kind and number exists; false when another process won the race. */
  async add(tenantId: string, key: TenantKeyRow): Promise<boolean> {
    const rows = (await this.db.query(
      `INSERT INTO tenant_keys (tenant_id, kind, number, master_key_id, wrapped, created_at)
       VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING number`,
      [tenantId, key.kind, key.number, key.masterKeyId, key.wrapped, key.createdAt],
    )) as unknown[];
    return rows.length > 0;
  }
}
