import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SpoolSegment } from '../entities/object-version.entity.js';
import { preparedRows } from './prepared.js';

/** A chunk an ingest cut: its keyed id and where it sits in the object. */
export interface CutChunk {
  id: Buffer;
  offset: number;
  length: number;
  /** Where the object's bytes start inside the chunk: 0 but for ranged part copies. */
  skip?: number;
}

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

/** One manifest entry with its chunk's place: what a reader needs. */
export interface ManifestEntry {
  /** The entry's place in the object. */
  offset: number;
  length: number;
  /** Where those bytes start inside the chunk's plaintext, and the whole chunk's length. */
  skip: number;
  plainLength: number;
  chunkId: Buffer;
  packId: string;
  /** The whole pack blob's size: how far a read may look ahead in it. */
  packSize: number;
  /**
   * Where the chunk's plaintext may still be on local disk: the spool files of the object that last
   * brought it (the recovery cache), and the chunk's offset in that object. A hint only: the files
   * may be gone by the time they are read, and the bytes must match the chunk id.
   */
  cached?: { spool: SpoolSegment[]; at: number };
  keyNumber: number;
  frameOffset: number;
  frameLength: number;
  codec: number;
}

export interface StoredPack {
  id: string;
  size: number;
  keyNumber: number;
}

export interface ChunkHolder {
  chunkId: Buffer;
  /** Where the chunk starts in the object, and its length. */
  offset: number;
  length: number;
  objectId: string;
  bucket: string;
  key: string;
  /** The object's local copy, while it is in the recovery cache. */
  spool: { path: string; size: number }[] | null;
}

/** How long a retired pack's blob outlives the move of its chunks: longer than any read. */
export const RETIRED_PACK_KEEP_MS = 10 * 60 * 1000;

export type ManifestCommit = 'stored' | 'object-gone' | 'chunk-gone';

/** How long a claim protects a chunk being stored before another ingest may take it over. */
export const CHUNK_CLAIM_LEASE_MS = 10 * 60 * 1000;

/**
 * The per-tenant chunk index, packs and manifests (docs/format.md). Every method takes the tenant
 * first, and every statement filters on it: a chunk id means nothing outside its tenant.
 */
/** The smallest size tier of packs of events only (ChunksRepository.eventPacks). */
const EVENT_TIER_BASE = 256 * 1024;

@Injectable()
export class ChunksRepository {
  constructor(private readonly db: DataSource) {}

  /**
   * Claims the chunks the ingest of `objectId` has to store: those no row knows, those it claimed
   * itself on an earlier attempt, and abandoned claims. Returns the claimed ids (hex), and, in the
   * same round trip, the number and bucket of the object's `object.put` catalog event: none when
   * the object is gone (deleted meanwhile), and then nothing is left to store for it. The number is
   * taken while the object exists, so a later delete's event always comes after it.
   */
  async claim(tenantId: string, objectId: string, chunks: CutChunk[]): Promise<{ claimed: Set<string>; event?: { seq: number; bucket: string } }> {
    // in key order, as every claimer: two claims of shared chunks then queue instead of deadlocking
    const unique = uniqueById(chunks).sort((a, b) => Buffer.compare(a.id, b.id));
    // prepared: parsing and planning this statement anew cost Postgres more than running it
    const rows = (await preparedRows(
      this.db,
      `WITH wanted AS (SELECT * FROM unnest($2::bytea[], $3::int[]) AS w (id, plain_length)),
       inserted AS (
         INSERT INTO chunks (tenant_id, id, plain_length, claimed_at, claimed_by)
         SELECT $1, id, plain_length, now(), $4 FROM wanted
         ON CONFLICT (tenant_id, id) DO NOTHING
         RETURNING id),
       taken AS (
         UPDATE chunks c SET claimed_at = now(), claimed_by = $4
           FROM wanted w
          WHERE c.tenant_id = $1 AND c.id = w.id AND c.pack_id IS NULL
            AND (c.claimed_by = $4 OR c.claimed_at < now() - $5 * interval '1 millisecond')
         RETURNING c.id),
       event AS (
         SELECT b.name, nextval('catalog_event_seq')::bigint AS seq
           FROM objects o JOIN buckets b ON b.id = o.bucket_id AND b.tenant_id = o.tenant_id
          WHERE o.tenant_id = $1 AND o.id = $4)
       SELECT id, NULL::text AS bucket, NULL::bigint AS seq FROM inserted
        UNION SELECT id, NULL, NULL FROM taken
        UNION ALL SELECT NULL, name, seq FROM event`,
      [tenantId, unique.map((c) => c.id), unique.map((c) => c.length), objectId, CHUNK_CLAIM_LEASE_MS],
    )) as { id: Buffer | null; bucket: string | null; seq: string | null }[];
    const claimed = new Set<string>();
    let event: { seq: number; bucket: string } | undefined;
    for (const row of rows) {
      if (row.id) claimed.add(row.id.toString('hex'));
      else if (row.bucket !== null && row.seq !== null) event = { seq: Number(row.seq), bucket: row.bucket };
    }
    return { claimed, event };
  }

  /**
   * Among `ids`, those without a pack yet: `stale` when nobody will store it (no row, or a claim
   * older than the lease), else another ingest is storing it now.
   */
  async unstored(tenantId: string, ids: Buffer[]): Promise<{ waiting: number; stale: number }> {
    if (ids.length === 0) return { waiting: 0, stale: 0 };
    const [row] = (await this.db.query(
      `SELECT count(*) FILTER (WHERE c.id IS NOT NULL AND c.claimed_at >= now() - $3 * interval '1 millisecond')::int AS waiting,
              count(*) FILTER (WHERE c.id IS NULL OR c.claimed_at < now() - $3 * interval '1 millisecond')::int AS stale
         FROM unnest($2::bytea[]) AS w (id)
         LEFT JOIN chunks c ON c.tenant_id = $1 AND c.id = w.id
        WHERE c.pack_id IS NULL`,
      [tenantId, ids, CHUNK_CLAIM_LEASE_MS],
    )) as { waiting: number; stale: number }[];
    return row;
  }

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
   * Writes an object's manifest and marks it stored, atomically and in one round trip: a batch of
   * one (`commitManifests`). Its chunk rows are locked first, so a collector cannot remove a chunk
   * this ingest deduplicated against: either the collector ran first (`chunk-gone`: store it again)
   * or it sees refs > 0. The object's spool files stay as the recovery cache, and its chunks are
   * pointed at them.
   */
  async commitManifest(tenantId: string, objectId: string, chunks: CutChunk[]): Promise<ManifestCommit> {
    const [outcome] = await this.commitManifests(tenantId, [{ objectId, chunks }]);
    return outcome;
  }

  /**
   * The manifests of several objects of the tenant, in one statement (the `commit_manifests`
   * function, which commits each as `commit_manifest` does): one outcome per object, in order. Any
   * other failure fails them all, and nothing of the batch is written.
   */
  async commitManifests(tenantId: string, manifests: { objectId: string; chunks: CutChunk[] }[]): Promise<ManifestCommit[]> {
    if (manifests.length === 0) return [];
    const all = manifests.flatMap((manifest) => manifest.chunks);
    // the chunks the object holds whole: those its spool files can give back (the recovery cache)
    const cached = manifests.map((manifest) => uniqueById(manifest.chunks.filter((chunk) => !chunk.skip)));
    const [row] = (await preparedRows(this.db, `SELECT commit_manifests($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) AS outcomes`, [
      tenantId,
      manifests.map((manifest) => manifest.objectId),
      manifests.map((manifest) => manifest.chunks.length),
      all.map((c) => c.id),
      all.map((c) => c.offset),
      all.map((c) => c.length),
      all.map((c) => c.skip ?? 0),
      cached.map((whole) => whole.length),
      cached.flat().map((c) => c.id),
      cached.flat().map((c) => c.offset),
    ])) as { outcomes: ManifestCommit[] }[];
    return row.outcomes;
  }

  /** The object's chunks in order, with their places. */
  async manifest(tenantId: string, objectId: string): Promise<ManifestEntry[]> {
    const rows = (await preparedRows(
      this.db,
      `SELECT m."offset", m.length, m.skip, c.plain_length, m.chunk_id, c.pack_id, p.size AS pack_size, p.key_number, c.frame_offset, c.frame_length, c.codec,
              co.spool AS cached_spool, c.cached_at
         FROM object_chunks m
         JOIN chunks c ON c.tenant_id = m.tenant_id AND c.id = m.chunk_id
         JOIN packs p ON p.id = c.pack_id
         LEFT JOIN objects co ON co.tenant_id = c.tenant_id AND co.id = c.cached_in AND co.spool IS NOT NULL
        WHERE m.tenant_id = $1 AND m.object_id = $2
        ORDER BY m.seq`,
      [tenantId, objectId],
    )) as {
      offset: string;
      length: number;
      skip: number;
      plain_length: number;
      chunk_id: Buffer;
      pack_id: string;
      pack_size: string;
      key_number: number;
      frame_offset: string;
      frame_length: number;
      codec: number;
      cached_spool: SpoolSegment[] | null;
      cached_at: string | null;
    }[];
    return rows.map((row) => ({
      offset: Number(row.offset),
      length: row.length,
      skip: row.skip,
      plainLength: row.plain_length,
      chunkId: row.chunk_id,
      packId: row.pack_id,
      packSize: Number(row.pack_size),
      keyNumber: row.key_number,
      frameOffset: Number(row.frame_offset),
      frameLength: row.frame_length,
      codec: row.codec,
      ...(row.cached_spool && row.cached_at !== null ? { cached: { spool: row.cached_spool, at: Number(row.cached_at) } } : {}),
    }));
  }

  /** Where each of `ids` is stored (hex id → place); ids without a pack are absent. */
  async places(tenantId: string, ids: Buffer[]): Promise<Map<string, Omit<ManifestEntry, 'offset' | 'length' | 'skip'>>> {
    const rows = (await this.db.query(
      `SELECT c.id, c.plain_length, c.pack_id, p.size AS pack_size, p.key_number, c.frame_offset, c.frame_length, c.codec
         FROM chunks c JOIN packs p ON p.id = c.pack_id WHERE c.tenant_id = $1 AND c.id = ANY($2::bytea[])`,
      [tenantId, ids],
    )) as { id: Buffer; plain_length: number; pack_id: string; pack_size: string; key_number: number; frame_offset: string; frame_length: number; codec: number }[];
    return new Map(
      rows.map((row) => [
        row.id.toString('hex'),
        {
          chunkId: row.id,
          plainLength: row.plain_length,
          packId: row.pack_id,
          packSize: Number(row.pack_size),
          keyNumber: row.key_number,
          frameOffset: Number(row.frame_offset),
          frameLength: row.frame_length,
          codec: row.codec,
        },
      ]),
    );
  }

  /** Forgets the claims of an ingest that gave up (its object is gone) on chunks it never stored. */
  async releaseClaims(tenantId: string, owner: string): Promise<void> {
    await this.db.query(`DELETE FROM chunks WHERE tenant_id = $1 AND claimed_by = $2 AND pack_id IS NULL AND refs = 0`, [tenantId, owner]);
  }

  /** Bytes of the tenant's packs in Blob, overhead included. */
  async storedBytes(tenantId: string): Promise<number> {
    const [row] = (await this.db.query(`SELECT coalesce(sum(size), 0)::bigint AS bytes FROM packs WHERE tenant_id = $1 AND state = 'stored'`, [
      tenantId,
    ])) as { bytes: string }[];
    return Number(row.bytes);
  }

  /**
   * Operator-level: forgets chunks no manifest has named for `graceMs`, and claims abandoned for
   * longer than the lease. A manifest being written holds its chunks' rows, so it either wins (refs
   * > 0 when this statement re-checks) or fails and stores the chunk again.
   *
   * It passes over rows someone else holds (SKIP LOCKED) rather than waiting for them: a chunk a
   * manifest is being committed against is about to be named, and one whose commit fails is
   * collected next time. Never waiting, the collector cannot deadlock with a batch of manifests,
   * which locks its chunks in key order while this statement meets rows in whatever order its scan
   * gives.
   */
  async collectChunks(graceMs: number, limit: number): Promise<number> {
    const [, deleted] = (await this.db.query(
      `DELETE FROM chunks WHERE (tenant_id, id) IN (
         SELECT tenant_id, id FROM chunks
          WHERE refs = 0 AND ((pack_id IS NOT NULL AND unreferenced_since < now() - $1 * interval '1 millisecond')
             OR (pack_id IS NULL AND claimed_at < now() - $2 * interval '1 millisecond'))
          LIMIT $3
          FOR UPDATE SKIP LOCKED)
         AND refs = 0`,
      [graceMs, CHUNK_CLAIM_LEASE_MS, limit],
    )) as [unknown, number];
    return deleted;
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

  /** Objects whose manifests name any of `chunkIds`, with where each chunk sits in them and their spool copy. */
  async holders(tenantId: string, chunkIds: Buffer[]): Promise<ChunkHolder[]> {
    if (chunkIds.length === 0) return [];
    const rows = (await this.db.query(
      `SELECT m.chunk_id, m."offset", m.length, o.id, o.key, o.spool, b.name AS bucket
         FROM object_chunks m JOIN objects o ON o.id = m.object_id JOIN buckets b ON b.id = o.bucket_id
        WHERE m.tenant_id = $1 AND m.chunk_id = ANY($2::bytea[])
        ORDER BY b.name, o.key`,
      [tenantId, chunkIds],
    )) as { chunk_id: Buffer; offset: string; length: number; id: string; key: string; spool: { path: string; size: number }[] | null; bucket: string }[];
    return rows.map((row) => ({
      chunkId: row.chunk_id,
      offset: Number(row.offset),
      length: row.length,
      objectId: row.id,
      bucket: row.bucket,
      key: row.key,
      spool: row.spool,
    }));
  }
}

type Query = (sql: string, parameters?: unknown[]) => Promise<unknown>;

async function retireIfEmpty(query: Query, tenantId: string, packId: string): Promise<void> {
  await query(
    `UPDATE packs SET state = 'retired', retired_at = now()
      WHERE tenant_id = $1 AND id = $2 AND state = 'stored' AND NOT EXISTS (SELECT 1 FROM chunks WHERE pack_id = $2)`,
    [tenantId, packId],
  );
}

/** Inserts a manifest in one statement; the triggers raise the chunks' refs. */
export async function insertManifest(query: Query, tenantId: string, objectId: string, chunks: CutChunk[]): Promise<void> {
  if (chunks.length === 0) return;
  await query(
    `INSERT INTO object_chunks (object_id, seq, tenant_id, chunk_id, "offset", length, skip)
     SELECT $1, m.seq - 1, $2, m.id, m.off, m.len, m.skip
       FROM unnest($3::bytea[], $4::bigint[], $5::int[], $6::int[]) WITH ORDINALITY AS m (id, off, len, skip, seq)`,
    [objectId, tenantId, chunks.map((c) => c.id), chunks.map((c) => c.offset), chunks.map((c) => c.length), chunks.map((c) => c.skip ?? 0)],
  );
}

function uniqueById(chunks: CutChunk[]): CutChunk[] {
  const seen = new Map<string, CutChunk>();
  for (const chunk of chunks) seen.set(chunk.id.toString('hex'), chunk);
  return [...seen.values()];
}
