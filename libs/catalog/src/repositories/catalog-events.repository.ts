import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';

/** An event of the outbox, as docs/format.md writes it into a pack's index. */
export interface PendingEvent {
  seq: number;
  [field: string]: unknown;
}

type Query = (sql: string, parameters?: unknown[]) => Promise<unknown>;

/**
 * The outbox of catalog events bound for the tenant's container. Deletes and bucket changes are
 * written by triggers; a put by reference (a copy) is written here, in the copy's transaction.
 */
@Injectable()
export class CatalogEventsRepository {
  constructor(private readonly db: DataSource) {}

  /** Operator-level: tenants with events waiting. */
  async tenantsWithEvents(): Promise<string[]> {
    const rows = (await this.db.query(`SELECT DISTINCT tenant_id FROM catalog_events`)) as { tenant_id: string }[];
    return rows.map((row) => row.tenant_id);
  }

  /** The oldest waiting events of one tenant, numbered. */
  async pending(tenantId: string, limit: number): Promise<PendingEvent[]> {
    const rows = (await this.db.query(`SELECT seq, event FROM catalog_events WHERE tenant_id = $1 ORDER BY seq LIMIT $2`, [
      tenantId,
      limit,
    ])) as { seq: string; event: Record<string, unknown> }[];
    return rows.map((row) => ({ ...row.event, seq: Number(row.seq) }));
  }

  /** See recordSnapshot. */
  async snapshot(tenantId: string): Promise<void> {
    await recordSnapshot(this.db.query.bind(this.db), tenantId);
  }

  /** Forgets events now in the container (or of a tenant that is gone). */
  async drop(tenantId: string, seqs: number[]): Promise<void> {
    await this.db.query(`DELETE FROM catalog_events WHERE tenant_id = $1 AND seq = ANY($2::bigint[])`, [tenantId, seqs]);
  }
}

/**
 * Adds the `object.put` event of an object whose manifest is already written, built from its rows
 * (used for copies by reference, which write no pack of their own).
 */
export async function recordPutEvent(query: Query, tenantId: string, objectId: string): Promise<void> {
  await query(`${PUT_EVENTS} AND o.id = $2`, [tenantId, objectId]);
}

/**
 * Puts every bucket and every stored object of the tenant into the outbox again: after a pack's index
 * (and the events in it) was found damaged, the container must say the whole catalog once more.
 * Replaying these is harmless where the old events survive: the latest put of a key wins.
 */
export async function recordSnapshot(query: Query, tenantId: string): Promise<void> {
  await query(
    `INSERT INTO catalog_events (tenant_id, event)
     SELECT tenant_id, jsonb_build_object('type', 'bucket.create', 'at', ${NOW_ISO}, 'bucket', name) FROM buckets WHERE tenant_id = $1`,
    [tenantId],
  );
  await query(PUT_EVENTS, [tenantId]);
}

const CHUNK_ID_B64URL = `translate(rtrim(encode(m.chunk_id, 'base64'), '='), '+/', '-_')`;
const NOW_ISO = `to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The `object.put` events of the tenant's stored, repacked objects, built from their rows. */
const PUT_EVENTS = `
  INSERT INTO catalog_events (tenant_id, event)
  SELECT o.tenant_id, jsonb_build_object(
           'type', 'object.put', 'at', ${NOW_ISO},
           'bucket', b.name, 'key', o.key, 'versionId', o.version_id, 'objectId', o.id, 'size', o.size, 'etag', o.etag,
           'contentType', o.content_type, 'headers', o.headers, 'userMetadata', o.user_metadata, 'checksums', o.checksums,
           'checksumType', o.checksum_type, 'parts', o.parts,
           'chunks', coalesce((SELECT jsonb_agg(CASE WHEN m.skip = 0 THEN jsonb_build_array(${CHUNK_ID_B64URL}, m."offset")
                                                     ELSE jsonb_build_array(${CHUNK_ID_B64URL}, m."offset", m.skip) END ORDER BY m.seq)
                                 FROM object_chunks m WHERE m.object_id = o.id), '[]'::jsonb))
    FROM objects o JOIN buckets b ON b.id = o.bucket_id
   WHERE o.tenant_id = $1 AND o.packed AND o.state = 'stored'`;
