import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { preparedRows } from '@ferry/catalog';
import type { QuotaAlert, QuotaStatus } from '@ferry/ledger-contracts';

interface ReserveRow {
  granted: boolean;
  quota_bytes: string;
  kept_bytes: string;
  held_bytes: string;
}

/** The ledger's quota tables. Every method that reads a tenant's rows takes the tenant id first. */
@Injectable()
export class QuotaRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * One statement: grants `bytes` if kept + reserved + bytes stays within the quota. Null: no such
   * tenant. Reserve and release run for every write the gateway takes, so both are prepared
   * statements: Postgres parsed and planned them anew each time (docs/benchmarks.md).
   */
  async reserve(tenantId: string, reservationId: string, bytes: number, ttlMs: number, holder: string): Promise<(QuotaStatus & { granted: boolean }) | null> {
    const rows = await preparedRows<ReserveRow>(
      this.db,
      `SELECT granted, quota_bytes, kept_bytes, held_bytes FROM ledger_reserve($1, $2, $3, $4, $5)`,
      [tenantId, reservationId, bytes, ttlMs, holder],
    );
    if (rows.length === 0) return null;
    const row = rows[0];
    return { granted: row.granted, quotaBytes: Number(row.quota_bytes), keptBytes: Number(row.kept_bytes), reservedBytes: Number(row.held_bytes) };
  }

  async release(tenantId: string, reservationIds: string[]): Promise<number> {
    return this.count(`DELETE FROM ledger_reservations WHERE tenant_id = $1 AND id = ANY($2::uuid[]) RETURNING id`, [tenantId, reservationIds]);
  }

  /** Extends the holder's own reservations only: one gateway cannot keep another's alive. */
  async renew(holder: string, reservationIds: string[], ttlMs: number): Promise<number> {
    return this.count(
      `UPDATE ledger_reservations SET expires_at = clock_timestamp() + $3 * interval '1 millisecond'
        WHERE holder = $1 AND id = ANY($2::uuid[]) RETURNING id`,
      [holder, reservationIds, ttlMs],
    );
  }

  /** Null: no such tenant. */
  async status(tenantId: string): Promise<QuotaStatus | null> {
    const rows = (await this.db.query(
      `SELECT t.quota_bytes, coalesce(u.kept_bytes, 0) AS kept_bytes,
              (SELECT coalesce(sum(bytes), 0) FROM ledger_reservations r WHERE r.tenant_id = t.id AND r.expires_at > clock_timestamp()) AS held_bytes
         FROM tenants t LEFT JOIN tenant_usage u ON u.tenant_id = t.id WHERE t.id = $1`,
      [tenantId],
    )) as Omit<ReserveRow, 'granted'>[];
    if (rows.length === 0) return null;
    return { quotaBytes: Number(rows[0].quota_bytes), keptBytes: Number(rows[0].kept_bytes), reservedBytes: Number(rows[0].held_bytes) };
  }

  /** Opens an alert for each threshold reached that has none open; returns the ones opened now. */
  async raiseAlerts(tenantId: string, thresholds: number[], usedBytes: number, quotaBytes: number): Promise<QuotaAlert[]> {
    if (thresholds.length === 0) return [];
    const rows = (await this.db.query(
      `INSERT INTO ledger_alerts (tenant_id, threshold_percent, used_bytes, quota_bytes)
       SELECT $1, t, $3, $4 FROM unnest($2::int[]) AS t
       ON CONFLICT (tenant_id, threshold_percent) WHERE cleared_at IS NULL DO NOTHING
       RETURNING *`,
      [tenantId, thresholds, usedBytes, quotaBytes],
    )) as AlertRow[];
    return rows.map(alertOf);
  }

  /** Closes open alerts whose tenant has fallen back under the threshold (kept bytes, quota now). */
  async clearAlerts(): Promise<number> {
    return this.count(
      `UPDATE ledger_alerts a SET cleared_at = now()
         FROM tenants t LEFT JOIN tenant_usage u ON u.tenant_id = t.id
        WHERE a.cleared_at IS NULL AND t.id = a.tenant_id
          AND coalesce(u.kept_bytes, 0) * 100 < a.threshold_percent::bigint * t.quota_bytes
        RETURNING a.id`,
    );
  }

  async alerts(tenantId: string, limit: number): Promise<QuotaAlert[]> {
    const rows = (await this.db.query(`SELECT * FROM ledger_alerts WHERE tenant_id = $1 ORDER BY raised_at DESC, id DESC LIMIT $2`, [
      tenantId,
      limit,
    ])) as AlertRow[];
    return rows.map(alertOf);
  }

  /** Alerts not yet delivered to the webhook, oldest first, with the tenant they belong to. */
  async undelivered(maxAttempts: number, limit: number): Promise<(QuotaAlert & { tenantId: string })[]> {
    const rows = (await this.db.query(
      `SELECT * FROM ledger_alerts WHERE notified_at IS NULL AND notify_attempts < $1 ORDER BY id LIMIT $2`,
      [maxAttempts, limit],
    )) as AlertRow[];
    return rows.map((row) => ({ ...alertOf(row), tenantId: row.tenant_id }));
  }

  async markDelivery(alertId: string, delivered: boolean): Promise<void> {
    await this.db.query(
      `UPDATE ledger_alerts SET notify_attempts = notify_attempts + 1, notified_at = CASE WHEN $2 THEN now() ELSE notified_at END WHERE id = $1`,
      [alertId, delivered],
    );
  }

  /** Lapsed reservations count for nothing already; this only keeps the table small. */
  async purgeExpired(): Promise<number> {
    return this.count(`DELETE FROM ledger_reservations WHERE expires_at < clock_timestamp() - interval '1 minute' RETURNING id`);
  }

  /** Rows a data-changing statement touched (wrapped so the driver returns one plain row). Prepared: see reserve. */
  private async count(statement: string, parameters: unknown[] = []): Promise<number> {
    const [row] = await preparedRows<{ n: number }>(this.db, `WITH changed AS (${statement}) SELECT count(*)::int AS n FROM changed`, parameters);
    return row.n;
  }
}

interface AlertRow {
  id: string;
  tenant_id: string;
  threshold_percent: number;
  used_bytes: string;
  quota_bytes: string;
  raised_at: Date;
  cleared_at: Date | null;
  notified_at: Date | null;
}

function alertOf(row: AlertRow): QuotaAlert {
  return {
    id: String(row.id),
    thresholdPercent: row.threshold_percent,
    usedBytes: Number(row.used_bytes),
    quotaBytes: Number(row.quota_bytes),
    raisedAt: row.raised_at.toISOString(),
    clearedAt: row.cleared_at?.toISOString() ?? null,
    notifiedAt: row.notified_at?.toISOString() ?? null,
  };
}
