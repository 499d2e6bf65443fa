import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Metering, rolled up per tenant and hour: traffic and requests reported by the gateways in
 * idempotent batches, and stored bytes (logical and physical) integrated over time as byte-seconds
 * by the ledger's sampler.
 */
export class Metering1764300000001 implements MigrationInterface {
  name = 'Metering1764300000001';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE ledger_usage_hourly (
        tenant_id uuid NOT NULL,
        hour timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
        ingress_bytes bigint NOT NULL DEFAULT 0,
        egress_bytes bigint NOT NULL DEFAULT 0,
        write_requests bigint NOT NULL DEFAULT 0,
        read_requests bigint NOT NULL DEFAULT 0,
        list_requests bigint NOT NULL DEFAULT 0,
        delete_requests bigint NOT NULL DEFAULT 0,
        logical_byte_seconds numeric(38, 0) NOT NULL DEFAULT 0,
        physical_byte_seconds numeric(38, 0) NOT NULL DEFAULT 0,
        PRIMARY KEY (tenant_id, hour)
      )`);
    // a batch id seen once is never counted again: a gateway retries a batch under the same id
    await db.query(`
      CREATE TABLE ledger_usage_batches (
        id text PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX ledger_usage_batches_received ON ledger_usage_batches (received_at)`);
    // the last sample of each tenant's stored bytes: the value held since then is integrated next time
    await db.query(`
      CREATE TABLE ledger_meter_state (
        tenant_id uuid PRIMARY KEY,
        sampled_at timestamptz NOT NULL,
        logical_bytes bigint NOT NULL,
        physical_bytes bigint NOT NULL
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['ledger_meter_state', 'ledger_usage_batches', 'ledger_usage_hourly']) await db.query(`DROP TABLE IF EXISTS ${table}`);
  }
}
