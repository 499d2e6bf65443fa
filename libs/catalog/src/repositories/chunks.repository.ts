import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { SpoolSegment } from '../entities/object-version.entity.js';
import { preparedRows, type Query } from './prepared.js';

/** A chunk an ingest cut: its keyed id and where it sits in the object. */
export interface CutChunk {
  id: Buffer;
  offset: number;
  length: number;
  /** Where the object's bytes start inside the chunk: 0 but for ranged part copies. */
  skip?: number;
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

export type ManifestCommit = 'stored' | 'object-gone' | 'chunk-gone';

/** How long a claim protects a chunk being stored before another ingest may take it over. */
export const CHUNK_CLAIM_LEASE_MS = 10 * 60 * 1000;

/**
 * The per-tenant chunk index and the manifests that name its chunks (docs/format.md); the packs the
 * chunks sit in are PacksRepository's. Every method takes the tenant first, and every statement
 * filters on it: a chunk id means nothing outside its tenant.
 */
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
