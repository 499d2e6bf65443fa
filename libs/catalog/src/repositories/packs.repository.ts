import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Query } from './prepared.js';

/** Where a stored chunk's frame is. */
export interface ChunkPlace {
  id: Buffer;
  frameOffset: number;
  frameLength: number;
  codec: number;
}

export interface NewPack {
  id: string;
  keyNumber: number;
  size: number;
  chunks: ChunkPlace[];
}

export interface StoredPack {
  id: string;
  size: number;
  keyNumber: number;
}

/** How long a retired pack's blob outlives the move of its chunks: longer than any read. */
export const RETIRED_PACK_KEEP_MS = 10 * 60 * 1000;

/** The smallest size tier of packs of events only (PacksRepository.eventPacks). */
const EVENT_TIER_BASE = 256 * 1024;

/**
 * The tenant's packs in Blob as the catalog knows them (docs/format.md): a pack is recorded before its
 * upload begins, stored with the places of its chunks once it is in Blob, and retired, rewritten or
 * collected as its chunks die. Every tenant's method takes the tenant first; the operator-level ones
 * (the maintenance jobs) say so.
 */
@Injectable()
export class PacksRepository {
  constructor(private readonly db: DataSource) {}

  /** Records that a pack is about to be uploaded, before its first byte reaches Blob. */
  async beginPack(tenantId: string, pack: Omit<NewPack, 'chunks'> & { chunkCount: number; eventCount: number }): Promise<void> {
    await this.db.query(
      `INSERT INTO packs (id, tenant_id, key_number, size, chunk_count, event_count, state) VALUES ($1, $2, $3, $4, $5, $6, 'writing')`,
      [pack.id, tenantId, pack.keyNumber, pack.size, pack.chunkCount, pack.eventCount],
    );
  }

  /**
   * Records an uploaded pack as stored and the places of its chunks, in one transaction. A chunk
   * whose claim was lost meanwhile is recorded anyway when it has no pack (nothing is lost); one
   * stored by another pack in between keeps that place, and this pack's copy is dead weight for the
   * prune job.
   */
  async commitPack(tenantId: string, pack: NewPack): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [, updated] = (await tx.query(`UPDATE packs SET state = 'stored' WHERE tenant_id = $1 AND id = $2 AND state = 'writing'`, [
        tenantId,
        pack.id,
      ])) as [unknown, number];
      if (updated !== 1) throw new Error(`pack ${pack.id} was not being written`);
      if (pack.chunks.length === 0) return;
      await tx.query(
        `UPDATE chunks c SET pack_id = $2, frame_offset = p.frame_offset, frame_length = p.frame_length, codec = p.codec,
                claimed_at = NULL, claimed_by = NULL, unreferenced_since = CASE WHEN c.refs = 0 THEN now() END
           FROM unnest($3::bytea[], $4::bigint[], $5::int[], $6::smallint[]) AS p (id, frame_offset, frame_length, codec)
          WHERE c.tenant_id = $1 AND c.id = p.id AND c.pack_id IS NULL`,
        [
          tenantId,
          pack.id,
          pack.chunks.map((c) => c.id),
          pack.chunks.map((c) => c.frameOffset),
          pack.chunks.map((c) => c.frameLength),
          pack.chunks.map((c) => c.codec),
        ],
      );
    });
  }

  /**
   * Operator-level: packs whose upload began longer than `olderThanMs` ago and never committed (the
   * worker died in between). Their rows go, their blobs to the garbage outbox.
   */
  async abandonStalePacks(olderThanMs: number): Promise<number> {
    const [, removed] = (await this.db.query(
      `WITH stale AS (
         DELETE FROM packs WHERE state = 'writing' AND created_at < now() - $1 * interval '1 millisecond'
         RETURNING id, tenant_id)
       INSERT INTO garbage (tenant_id, container, blob_name)
       SELECT s.tenant_id, t.container, 'packs/' || s.id FROM stale s JOIN tenants t ON t.id = s.tenant_id`,
      [olderThanMs],
    )) as [unknown, number];
    return removed;
  }

  /**
   * Operator-level: packs with no chunk left, removed from the catalog (their blobs go to the garbage
   * outbox in the same transaction): stored packs older than `graceMs` that carry no catalog event,
   * and retired ones (chunks and events moved) once `retiredMs` has passed, so that a read that began
   * before the move ends first.
   */
  async collectEmptyPacks(graceMs: number, limit: number, retiredMs = RETIRED_PACK_KEEP_MS): Promise<number> {
    const [, removed] = (await this.db.query(
      `WITH empty AS (
         DELETE FROM packs p
          WHERE p.id IN (SELECT id FROM packs q
                          WHERE ((q.state = 'stored' AND q.event_count = 0 AND q.created_at < now() - $1 * interval '1 millisecond')
                              OR (q.state = 'retired' AND q.retired_at < now() - $3 * interval '1 millisecond'))
                            AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.pack_id = q.id) LIMIT $2)
            AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.pack_id = p.id)
         RETURNING p.id, p.tenant_id)
       INSERT INTO garbage (tenant_id, container, blob_name)
       SELECT e.tenant_id, t.container, 'packs/' || e.id FROM empty e JOIN tenants t ON t.id = e.tenant_id`,
      [graceMs, limit, retiredMs],
    )) as [unknown, number];
    return removed;
  }

  /** The tenant's stored packs, oldest verification first. */
  async storedPacks(tenantId: string): Promise<StoredPack[]> {
    const rows = (await this.db.query(
      `SELECT id, size, key_number FROM packs WHERE tenant_id = $1 AND state = 'stored' ORDER BY verified_at NULLS FIRST, created_at`,
      [tenantId],
    )) as { id: string; size: string; key_number: number }[];
    return rows.map((row) => ({ id: row.id, size: Number(row.size), keyNumber: row.key_number }));
  }

  /**
   * Operator-level: stored packs older than `graceMs` that held chunks and whose live bytes (chunks
   * some object still names) are under `fraction` of their size: the prune job rewrites them. One
   * with nothing live is a candidate only when it carries events (else the collector removes it).
   */
  async sparsePacks(fraction: number, graceMs: number, limit: number): Promise<(StoredPack & { tenantId: string; liveBytes: number })[]> {
    const rows = (await this.db.query(
      `SELECT p.id, p.tenant_id, p.size, p.key_number, coalesce(sum(c.frame_length) FILTER (WHERE c.refs > 0), 0)::bigint AS live
         FROM packs p LEFT JOIN chunks c ON c.pack_id = p.id
        WHERE p.state = 'stored' AND p.created_at < now() - $2 * interval '1 millisecond'
        GROUP BY p.id
       HAVING p.chunk_count > 0
          AND (coalesce(sum(c.frame_length) FILTER (WHERE c.refs > 0), 0) > 0 OR p.event_count > 0)
          AND coalesce(sum(c.frame_length) FILTER (WHERE c.refs > 0), 0) < $1::float8 * p.size
        ORDER BY p.created_at LIMIT $3`,
      [fraction, graceMs, limit],
    )) as { id: string; tenant_id: string; size: string; key_number: number; live: string }[];
    return rows.map((row) => ({ id: row.id, tenantId: row.tenant_id, size: Number(row.size), keyNumber: row.key_number, liveBytes: Number(row.live) }));
  }

  /**
   * Operator-level: groups of at least `min` packs of events only (no chunk ever), older than
   * `graceMs`, of one tenant and one size tier, for the prune job to merge into one. Tiers grow
   * eightfold from 256 KiB (under 2 MiB, under 16 MiB, …), so a merged pack joins the small packs
   * again only once eight of its own size gather: each event is rewritten a few times over the
   * life of a container, not once per merge, however many deletes a tenant makes.
   */
  async eventPacks(min: number, graceMs: number): Promise<{ tenantId: string; packs: StoredPack[] }[]> {
    const rows = (await this.db.query(
      `SELECT id, tenant_id, size, key_number, tier FROM (
         SELECT id, tenant_id, size, key_number, created_at, tier, count(*) OVER (PARTITION BY tenant_id, tier) AS n
           FROM (SELECT p.*, floor(log(8, greatest(p.size, ${EVENT_TIER_BASE})::numeric / ${EVENT_TIER_BASE}))::int AS tier
                   FROM packs p
                  WHERE state = 'stored' AND chunk_count = 0 AND created_at < now() - $2 * interval '1 millisecond') tiered
       ) counted
        WHERE n >= $1
        ORDER BY tenant_id, tier, created_at LIMIT 1000`,
      [min, graceMs],
    )) as { id: string; tenant_id: string; size: string; key_number: number; tier: number }[];
    const groups = new Map<string, { tenantId: string; packs: StoredPack[] }>();
    for (const row of rows) {
      const key = `${row.tenant_id}/${row.tier}`;
      const group = groups.get(key) ?? { tenantId: row.tenant_id, packs: [] };
      group.packs.push({ id: row.id, size: Number(row.size), keyNumber: row.key_number });
      groups.set(key, group);
    }
    return [...groups.values()];
  }

  /**
   * Records the merged pack as stored and retires the packs whose events it now carries; with no
   * merged pack (none of their events is still needed), only retires them.
   */
  async replacePacks(tenantId: string, packId: string | undefined, replaced: string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      if (packId !== undefined) {
        const [, updated] = (await tx.query(`UPDATE packs SET state = 'stored', verified_at = now() WHERE tenant_id = $1 AND id = $2 AND state = 'writing'`, [
          tenantId,
          packId,
        ])) as [unknown, number];
        if (updated !== 1) throw new Error(`pack ${packId} was not being written`);
      }
      for (const id of replaced) await retireIfEmpty(tx.query.bind(tx), tenantId, id);
    });
  }

  /** The chunks the catalog places in one pack. */
  async chunksInPack(tenantId: string, packId: string): Promise<(ChunkPlace & { plainLength: number; refs: number })[]> {
    const rows = (await this.db.query(
      `SELECT id, frame_offset, frame_length, plain_length, codec, refs FROM chunks WHERE tenant_id = $1 AND pack_id = $2 ORDER BY frame_offset`,
      [tenantId, packId],
    )) as { id: Buffer; frame_offset: string; frame_length: number; plain_length: number; codec: number; refs: number }[];
    return rows.map((row) => ({
      id: row.id,
      frameOffset: Number(row.frame_offset),
      frameLength: row.frame_length,
      plainLength: row.plain_length,
      codec: row.codec,
      refs: row.refs,
    }));
  }

  /**
   * Moves chunks from `fromPack` to the uploaded `pack` (recorded as stored) in one transaction;
   * `fromPack` is retired once no chunk is left in it. A chunk collected meanwhile is skipped.
   */
  async moveChunks(tenantId: string, fromPack: string, pack: NewPack): Promise<void> {
    await this.db.transaction(async (tx) => {
      const [, updated] = (await tx.query(`UPDATE packs SET state = 'stored', verified_at = now() WHERE tenant_id = $1 AND id = $2 AND state = 'writing'`, [
        tenantId,
        pack.id,
      ])) as [unknown, number];
      if (updated !== 1) throw new Error(`pack ${pack.id} was not being written`);
      if (pack.chunks.length > 0) {
        await tx.query(
          `UPDATE chunks c SET pack_id = $3, frame_offset = p.frame_offset, frame_length = p.frame_length, codec = p.codec
             FROM unnest($4::bytea[], $5::bigint[], $6::int[], $7::smallint[]) AS p (id, frame_offset, frame_length, codec)
            WHERE c.tenant_id = $1 AND c.id = p.id AND c.pack_id = $2`,
          [tenantId, fromPack, pack.id, pack.chunks.map((c) => c.id), pack.chunks.map((c) => c.frameOffset), pack.chunks.map((c) => c.frameLength), pack.chunks.map((c) => c.codec)],
        );
      }
      await retireIfEmpty(tx.query.bind(tx), tenantId, fromPack);
    });
  }

  /** Retires a pack no chunk is left in: its blob goes after RETIRED_PACK_KEEP_MS. */
  async retireIfEmpty(tenantId: string, packId: string): Promise<void> {
    await retireIfEmpty(this.db.query.bind(this.db), tenantId, packId);
  }

  async markVerified(tenantId: string, packId: string): Promise<void> {
    await this.db.query(`UPDATE packs SET verified_at = now() WHERE tenant_id = $1 AND id = $2`, [tenantId, packId]);
  }
}

async function retireIfEmpty(query: Query, tenantId: string, packId: string): Promise<void> {
  await query(
    `UPDATE packs SET state = 'retired', retired_at = now()
      WHERE tenant_id = $1 AND id = $2 AND state = 'stored' AND NOT EXISTS (SELECT 1 FROM chunks WHERE pack_id = $2)`,
    [tenantId, packId],
  );
}
