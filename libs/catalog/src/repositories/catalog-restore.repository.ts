import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource } from 'typeorm';
import type { PartInfo, StoredHeaders } from '../entities/object-version.entity.js';
import { insertManifest } from './chunks.repository.js';
import type { TenantKeyRow } from './tenant-keys.repository.js';

export interface RestorePack {
  id: string;
  size: number;
  keyNumber: number;
  chunks: { id: Buffer; offset: number; frameLength: number; plainLength: number; codec: number }[];
}

export interface RestoreObject {
  id: string;
  bucket: string;
  key: string;
  versionId: string;
  size: number;
  etag: string;
  contentType: string | null;
  headers: StoredHeaders;
  userMetadata: Record<string, string>;
  checksums: Record<string, string>;
  checksumType: string | null;
  parts: PartInfo[] | null;
  createdAt: Date;
  /** The manifest: chunk ids and their offsets in the object, in order. */
  chunks: { id: Buffer; offset: number; skip: number }[];
}

export interface RestorePlan {
  keys: TenantKeyRow[];
  packs: RestorePack[];
  buckets: string[];
  objects: RestoreObject[];
  lastSeq: number;
}

export interface RestoreReport {
  keys: number;
  packs: number;
  chunks: number;
  buckets: number;
  objects: number;
  /** Objects whose manifest names a chunk no pack holds: not restored. */
  incomplete: { bucket: string; key: string; missingChunks: number }[];
}

/**
 * Fills an empty tenant catalog from what its container says (the catalog rebuild), in one
 * transaction: all of it or nothing.
 */
@Injectable()
export class CatalogRestoreRepository {
  constructor(private readonly db: DataSource) {}

  async restore(tenantId: string, plan: RestorePlan): Promise<RestoreReport> {
    return this.db.transaction(async (tx) => {
      const query = tx.query.bind(tx) as (sql: string, parameters?: unknown[]) => Promise<unknown>;
      const [state] = (await query(
        `SELECT EXISTS (SELECT 1 FROM buckets WHERE tenant_id = $1) OR EXISTS (SELECT 1 FROM packs WHERE tenant_id = $1)
             OR EXISTS (SELECT 1 FROM chunks WHERE tenant_id = $1) OR EXISTS (SELECT 1 FROM tenant_keys WHERE tenant_id = $1) AS used`,
        [tenantId],
      )) as { used: boolean }[];
      if (state.used) throw new FerryError(FerryErrorCode.TenantHasData, "the tenant's catalog is not empty: a rebuild only fills an empty one");
      for (const key of plan.keys) {
        await query(`INSERT INTO tenant_keys (tenant_id, kind, number, master_key_id, wrapped, created_at) VALUES ($1, $2, $3, $4, $5, $6)`, [
          tenantId,
          key.kind,
          key.number,
          key.masterKeyId,
          key.wrapped,
          key.createdAt,
        ]);
      }
      const stored = new Map<string, number>();
      for (const pack of plan.packs) {
        await query(`INSERT INTO packs (id, tenant_id, key_number, size, chunk_count, state) VALUES ($1, $2, $3, $4, $5, 'stored')`, [
          pack.id,
          tenantId,
          pack.keyNumber,
          pack.size,
          pack.chunks.length,
        ]);
        // a chunk held by two packs (a lost claim stored it twice) keeps its first place
        const fresh = pack.chunks.filter((chunk) => !stored.has(chunk.id.toString('hex')));
        for (const chunk of fresh) stored.set(chunk.id.toString('hex'), chunk.plainLength);
        if (fresh.length === 0) continue;
        await query(
          `INSERT INTO chunks (tenant_id, id, pack_id, frame_offset, frame_length, plain_length, codec)
           SELECT $1, c.id, $2, c.frame_offset, c.frame_length, c.plain_length, c.codec
             FROM unnest($3::bytea[], $4::bigint[], $5::int[], $6::int[], $7::smallint[]) AS c (id, frame_offset, frame_length, plain_length, codec)`,
          [tenantId, pack.id, fresh.map((c) => c.id), fresh.map((c) => c.offset), fresh.map((c) => c.frameLength), fresh.map((c) => c.plainLength), fresh.map((c) => c.codec)],
        );
      }
      const bucketIds = new Map<string, string>();
      for (const name of plan.buckets) {
        const id = randomUUID();
        await query(`INSERT INTO buckets (id, tenant_id, name) VALUES ($1, $2, $3)`, [id, tenantId, name]);
        bucketIds.set(name, id);
      }
      const report: RestoreReport = { keys: plan.keys.length, packs: plan.packs.length, chunks: stored.size, buckets: bucketIds.size, objects: 0, incomplete: [] };
      for (const object of plan.objects) {
        const missing = object.chunks.filter((chunk) => !stored.has(chunk.id.toString('hex'))).length;
        if (missing > 0) {
          report.incomplete.push({ bucket: object.bucket, key: object.key, missingChunks: missing });
          continue;
        }
        await query(
          `INSERT INTO objects (id, tenant_id, bucket_id, key, version_id, is_latest, is_delete_marker, state, packed, size, etag,
                                content_type, headers, user_metadata, checksums, checksum_type, parts, created_at, stored_at)
           VALUES ($1, $2, $3, $4, $5, true, false, 'stored', true, $6, $7, $8, $9, $10, $11, $12, $13, $14, now())`,
          [
            object.id,
            tenantId,
            bucketIds.get(object.bucket),
            object.key,
            object.versionId,
            object.size,
            object.etag,
            object.contentType,
            JSON.stringify(object.headers),
            JSON.stringify(object.userMetadata),
            JSON.stringify(object.checksums),
            object.checksumType,
            object.parts === null ? null : JSON.stringify(object.parts),
            object.createdAt,
          ],
        );
        const manifest = object.chunks.map((chunk, i) => ({
          id: chunk.id,
          offset: chunk.offset,
          skip: chunk.skip,
          length: (i + 1 < object.chunks.length ? object.chunks[i + 1].offset : object.size) - chunk.offset,
        }));
        await insertManifest(query, tenantId, object.id, manifest);
        report.objects++;
      }
      // the inserts above fired the outbox triggers: the container already says all of it
      await query(`DELETE FROM catalog_events WHERE tenant_id = $1`, [tenantId]);
      await query(`SELECT setval('catalog_event_seq', greatest($1::bigint, (SELECT last_value FROM catalog_event_seq)))`, [plan.lastSeq]);
      return report;
    });
  }
}
