import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { UsageEntry, UsagePeriod } from '@ferry/ledger-contracts';

const SAMPLER_LOCK = 0x6d657472; // 'metr'

/** The ledger's metering tables. Reads of one tenant's rows take its id first. */
@Injectable()
export class UsageRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Adds a gateway's batch to the hourly rows, once: the batch id and the counts commit together,
   * so a retried batch (the gateway never heard the answer) finds its id and adds nothing.
   */
  async record(batchId: string, entries: UsageEntry[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const fresh = (await tx.query(`INSERT INTO ledger_usage_batches (id) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id`, [batchId])) as unknown[];
      if (fresh.length === 0) return false;
      await tx.query(
        `INSERT INTO ledger_usage_hourly AS u (tenant_id, hour, ingress_bytes, egress_bytes, write_requests, read_requests, list_requests, delete_requests)
         SELECT * FROM unnest($1::uuid[], $2::timestamptz[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[])
         ON CONFLICT (tenant_id, hour) DO UPDATE SET
           ingress_bytes = u.ingress_bytes + excluded.ingress_bytes,
           egress_bytes = u.egress_bytes + excluded.egress_bytes,
           write_requests = u.write_requests + excluded.write_requests,
           read_requests = u.read_requests + excluded.read_requests,
           list_requests = u.list_requests + excluded.list_requests,
           delete_requests = u.delete_requests + excluded.delete_requests`,
        [
          entries.map((entry) => entry.tenantId),
          entries.map((entry) => entry.hour),
          entries.map((entry) => entry.ingressBytes),
          entries.map((entry) => entry.egressBytes),
          entries.map((entry) => entry.requests.write),
          entries.map((entry) => entry.requests.read),
          entries.map((entry) => entry.requests.list),
          entries.map((entry) => entry.requests.delete),
        ],
      );
      return true;
    });
  }

  /**
   * Integrates every tenant's stored bytes since its last sample into byte-seconds per hour, then
   * takes a new sample. Between two samples the earlier value is held (a step function), so each
   * interval is counted exactly once; samplers of several ledgers take turns under a lock.
   * Logical bytes are the catalog's kept bytes (what the quota counts); physical bytes are the
   * tenant's packs in Blob plus any object stored as a plain blob.
   */
  async sample(): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock($1)`, [SAMPLER_LOCK]);
      await tx.query(`
        WITH now AS (SELECT clock_timestamp() AS t),
        slices AS (
          SELECT s.tenant_id, h AS hour, s.logical_bytes, s.physical_bytes,
                 extract(epoch FROM least(h + interval '1 hour', now.t) - greatest(h, s.sampled_at)) AS seconds
            FROM ledger_meter_state s, now,
                 generate_series(date_trunc('hour', s.sampled_at), date_trunc('hour', now.t), interval '1 hour') AS h
        ),
        integrated AS (
          INSERT INTO ledger_usage_hourly AS u (tenant_id, hour, logical_byte_seconds, physical_byte_seconds)
          SELECT tenant_id, hour, round(logical_bytes * seconds), round(physical_bytes * seconds) FROM slices WHERE seconds > 0
          ON CONFLICT (tenant_id, hour) DO UPDATE SET
            logical_byte_seconds = u.logical_byte_seconds + excluded.logical_byte_seconds,
            physical_byte_seconds = u.physical_byte_seconds + excluded.physical_byte_seconds
        ),
        current AS (
          SELECT t.id AS tenant_id, coalesce(k.kept_bytes, 0) AS logical,
                 coalesce(p.bytes, 0) + coalesce(o.bytes, 0) AS physical
            FROM tenants t
            LEFT JOIN tenant_usage k ON k.tenant_id = t.id
            LEFT JOIN (SELECT tenant_id, sum(size) AS bytes FROM packs WHERE state = 'stored' GROUP BY tenant_id) p ON p.tenant_id = t.id
            LEFT JOIN (SELECT tenant_id, sum(size) AS bytes FROM objects WHERE state = 'stored' AND blob_name IS NOT NULL GROUP BY tenant_id) o
              ON o.tenant_id = t.id
        )
        INSERT INTO ledger_meter_state AS s (tenant_id, sampled_at, logical_bytes, physical_bytes)
        SELECT tenant_id, now.t, logical, physical FROM current, now
        ON CONFLICT (tenant_id) DO UPDATE SET sampled_at = excluded.sampled_at, logical_bytes = excluded.logical_bytes, physical_bytes = excluded.physical_bytes`);
      // a deleted tenant's last interval was integrated above; it has no next one
      await tx.query(`DELETE FROM ledger_meter_state s WHERE NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = s.tenant_id)`);
    });
  }

  async history(tenantId: string, granularity: 'hour' | 'day', from: string, to: string): Promise<UsagePeriod[]> {
    const rows = (await this.db.query(
      `SELECT date_trunc($2, hour, 'UTC') AS start,
              sum(ingress_bytes)::bigint AS ingress, sum(egress_bytes)::bigint AS egress,
              sum(write_requests)::bigint AS write, sum(read_requests)::bigint AS read,
              sum(list_requests)::bigint AS list, sum(delete_requests)::bigint AS delete,
              round(sum(logical_byte_seconds) / 3600, 3)::text AS logical, round(sum(physical_byte_seconds) / 3600, 3)::text AS physical
         FROM ledger_usage_hourly
        WHERE tenant_id = $1 AND hour >= $3 AND hour < $4
        GROUP BY 1 ORDER BY 1`,
      [tenantId, granularity, from, to],
    )) as { start: Date; ingress: string; egress: string; write: string; read: string; list: string; delete: string; logical: string; physical: string }[];
    return rows.map((row) => ({
      start: row.start.toISOString(),
      ingressBytes: Number(row.ingress),
      egressBytes: Number(row.egress),
      requests: { write: Number(row.write), read: Number(row.read), list: Number(row.list), delete: Number(row.delete) },
      logicalByteHours: row.logical,
      physicalByteHours: row.physical,
    }));
  }

  /** Gateways retry a batch for minutes, not weeks: old ids are only kept as long as that. */
  async purgeBatches(): Promise<void> {
    await this.db.query(`DELETE FROM ledger_usage_batches WHERE received_at < now() - interval '7 days'`);
  }
}
