import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-tenant traffic limits the gateways enforce (Veeam Cloud Connect's MaxConcurrentTasks and
 * throttling): how many requests at once, and how many body bytes per second in and out. No row, or a
 * null, means no limit of that kind beyond the gateway's fair share.
 */
export class TenantLimits1764300000003 implements MigrationInterface {
  name = 'TenantLimits1764300000003';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE ledger_tenant_limits (
        tenant_id uuid PRIMARY KEY,
        max_concurrent_requests int CHECK (max_concurrent_requests > 0),
        max_bandwidth_bytes_per_second bigint CHECK (max_bandwidth_bytes_per_second > 0),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS ledger_tenant_limits`);
  }
}
