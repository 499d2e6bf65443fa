import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Quota reservations and soft-quota alerts: the ledger's own tables. The quota itself is the tenant's
 * setting in the catalog (`tenants.quota_bytes`), and the bytes a tenant keeps are the catalog's
 * exact counter (`tenant_usage.kept_bytes`); the ledger only adds what is promised to uploads in
 * flight.
 */
export class QuotaReservations1764300000000 implements MigrationInterface {
  name = 'QuotaReservations1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE ledger_reservations (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL,
        bytes bigint NOT NULL CHECK (bytes >= 0),
        holder text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      )`);
    await db.query(`CREATE INDEX ledger_reservations_tenant ON ledger_reservations (tenant_id, expires_at)`);
    await db.query(`CREATE INDEX ledger_reservations_expiry ON ledger_reservations (expires_at)`);
    // One statement decides a reservation. The per-tenant advisory lock orders reservations of one
    // tenant; the read after it takes a fresh snapshot (READ COMMITTED, volatile plpgsql), so it sees
    // every reservation granted before and every upload committed before its reservation was released
    // (the gateway commits the catalog row first, then releases). Bytes may be counted twice for a
    // moment, never zero times: a race can refuse early, never overshoot.
    await db.query(`
      CREATE FUNCTION ledger_reserve(p_tenant uuid, p_id uuid, p_bytes bigint, p_ttl_ms bigint, p_holder text)
      RETURNS TABLE (granted boolean, quota_bytes bigint, kept_bytes bigint, held_bytes bigint)
      LANGUAGE plpgsql VOLATILE AS $$
      DECLARE
        v_quota bigint;
        v_kept bigint;
        v_held bigint;
      BEGIN
        PERFORM pg_advisory_xact_lock(hashtextextended('ferry-quota:' || p_tenant::text, 0));
        SELECT t.quota_bytes, coalesce(u.kept_bytes, 0),
               (SELECT coalesce(sum(r.bytes), 0) FROM ledger_reservations r
                 WHERE r.tenant_id = p_tenant AND r.expires_at > clock_timestamp() AND r.id <> p_id)
          INTO v_quota, v_kept, v_held
          FROM tenants t LEFT JOIN tenant_usage u ON u.tenant_id = t.id
         WHERE t.id = p_tenant;
        IF NOT FOUND THEN
          RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM ledger_reservations r WHERE r.id = p_id AND r.tenant_id = p_tenant) THEN
          -- a retried message: the reservation stands as first granted
          RETURN QUERY SELECT true, v_quota, v_kept, v_held + p_bytes;
          RETURN;
        END IF;
        IF v_kept + v_held + p_bytes > v_quota THEN
          RETURN QUERY SELECT false, v_quota, v_kept, v_held;
          RETURN;
        END IF;
        INSERT INTO ledger_reservations (id, tenant_id, bytes, holder, expires_at)
        VALUES (p_id, p_tenant, p_bytes, p_holder, clock_timestamp() + p_ttl_ms * interval '1 millisecond');
        RETURN QUERY SELECT true, v_quota, v_kept, v_held + p_bytes;
      END $$`);
    await db.query(`
      CREATE TABLE ledger_alerts (
        id bigserial PRIMARY KEY,
        tenant_id uuid NOT NULL,
        threshold_percent int NOT NULL CHECK (threshold_percent BETWEEN 1 AND 100),
        used_bytes bigint NOT NULL,
        quota_bytes bigint NOT NULL,
        raised_at timestamptz NOT NULL DEFAULT now(),
        cleared_at timestamptz,
        notified_at timestamptz,
        notify_attempts int NOT NULL DEFAULT 0
      )`);
    // at most one open alert per tenant and threshold: crossing 80 % twice without falling back is one alert
    await db.query(`CREATE UNIQUE INDEX ledger_alerts_open ON ledger_alerts (tenant_id, threshold_percent) WHERE cleared_at IS NULL`);
    await db.query(`CREATE INDEX ledger_alerts_tenant ON ledger_alerts (tenant_id, raised_at DESC)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE IF EXISTS ledger_alerts`);
    await db.query(`DROP FUNCTION IF EXISTS ledger_reserve(uuid, uuid, bigint, bigint, text)`);
    await db.query(`DROP TABLE IF EXISTS ledger_reservations`);
  }
}
