import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The operator's levers on a tenant's access besides suspension: a service lease that ends (Veeam
 * Cloud Connect's lease; past it, writes are refused) and whether a suspended or expired tenant may
 * still read its backups (by default it may: restores must stay possible).
 */
export class TenantAccess1764200000001 implements MigrationInterface {
  name = 'TenantAccess1764200000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE tenants ADD COLUMN lease_expires_at timestamptz`);
    await db.query(`ALTER TABLE tenants ADD COLUMN block_reads boolean NOT NULL DEFAULT false`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE tenants DROP COLUMN block_reads`);
    await db.query(`ALTER TABLE tenants DROP COLUMN lease_expires_at`);
  }
}
