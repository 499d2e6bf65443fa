import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource, type EntityManager } from 'typeorm';
import { recordPutEvent } from './catalog-events.repository.js';
import { GarbageEntity } from '../entities/garbage.entity.js';
import { MultipartPartEntity, MultipartUploadEntity } from '../entities/multipart-upload.entity.js';
import type { StoredHeaders } from '../entities/object-version.entity.js';
import { insertNullVersion, type NewObjectVersion } from './objects.repository.js';
import { pgCode, PG_FOREIGN_KEY_VIOLATION } from './pg-errors.js';

export interface NewUpload {
  key: string;
  contentType: string | null;
  headers: StoredHeaders;
  userMetadata: Record<string, string>;
  checksumAlgorithm: string | null;
  checksumType: string | null;
}

export interface NewPart {
  partNumber: number;
  size: number;
  etag: string;
  checksums: Record<string, string>;
  spoolPath: string;
}

/**
 * Decides, inside the completing transaction, which parts make the object and what it looks like.
 * Throwing aborts the completion and leaves the upload as it was.
 */
export type CompletionPlan = (upload: MultipartUploadEntity, parts: MultipartPartEntity[]) => {
  chosen: MultipartPartEntity[];
  object: Omit<NewObjectVersion, 'spool' | 'key'>;
};

const noSuchUpload = () =>
  new FerryError(
    FerryErrorCode.NoSuchUpload,
    'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
  );

/** Multipart uploads and their parts, always scoped by tenant (and bucket and key where S3 names them). */
@Injectable()
export class UploadsRepository {
  constructor(private readonly db: DataSource) {}

  async create(tenantId: string, bucketId: string, upload: NewUpload): Promise<string> {
    const id = randomBytes(24).toString('base64url');
    try {
      await this.db.getRepository(MultipartUploadEntity).insert({ ...upload, id, tenantId, bucketId });
    } catch (error) {
      if (pgCode(error) === PG_FOREIGN_KEY_VIOLATION) {
        throw new FerryError(FerryErrorCode.NoSuchBucket, 'The specified bucket does not exist');
      }
      throw error;
    }
    return id;
  }

  async get(tenantId: string, bucketId: string, key: string, uploadId: string): Promise<MultipartUploadEntity> {
    const upload = await this.db.getRepository(MultipartUploadEntity).findOneBy({ id: uploadId, tenantId, bucketId, key });
    if (!upload) throw noSuchUpload();
    return upload;
  }

  /**
   * Records an uploaded part (its bytes already fsync'd in the spool). A part uploaded again under
   * the same number replaces the earlier one, whose file goes to the garbage outbox. Holds a share
   * lock on the upload, so a racing completion or abort either sees this part or makes it fail.
   */
  async putPart(tenantId: string, bucketId: string, key: string, uploadId: string, container: string, part: NewPart): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockUpload(tx, tenantId, bucketId, key, uploadId, 'FOR SHARE');
      await dropPart(tx, tenantId, container, uploadId, part.partNumber);
      await tx.insert(MultipartPartEntity, { ...part, uploadId, tenantId, copied: false });
    });
  }

  /**
   * Records a part copied by reference (UploadPartCopy of a repacked source): the chunks covering
   * `range` of the source, the first and last possibly cut, each held by the part until the upload
   * completes or is aborted. False when the source is not (or no longer) repacked: copy its bytes.
   */
  async putCopiedPart(
    tenantId: string,
    bucketId: string,
    key: string,
    uploadId: string,
    container: string,
    part: Omit<NewPart, 'spoolPath'>,
    sourceId: string,
    range: { start: number; end: number },
  ): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      await lockUpload(tx, tenantId, bucketId, key, uploadId, 'FOR SHARE');
      const source = (await tx.query(`SELECT 1 FROM objects WHERE tenant_id = $1 AND id = $2 AND state = 'stored' AND packed FOR SHARE`, [
        tenantId,
        sourceId,
      ])) as unknown[];
      if (source.length === 0) return false;
      const manifest = (await tx.query(
        `SELECT chunk_id, "offset", length, skip FROM object_chunks
          WHERE tenant_id = $1 AND object_id = $2 AND "offset" <= $4 AND "offset" + length > $3 ORDER BY seq`,
        [tenantId, sourceId, range.start, range.end],
      )) as { chunk_id: Buffer; offset: string; length: number; skip: number }[];
      const pieces = manifest.map((row) => {
        const offset = Number(row.offset);
        const from = Math.max(range.start, offset);
        const to = Math.min(range.end + 1, offset + row.length);
        return { id: row.chunk_id, skip: row.skip + (from - offset), length: to - from };
      });
      if (pieces.reduce((sum, piece) => sum + piece.length, 0) !== part.size) throw new Error(`source ${sourceId}: its manifest does not cover the copied range`);
      await dropPart(tx, tenantId, container, uploadId, part.partNumber);
      await tx.insert(MultipartPartEntity, { ...part, uploadId, tenantId, spoolPath: null, copied: true });
      await tx.query(
        `INSERT INTO part_chunks (upload_id, part_number, seq, tenant_id, chunk_id, skip, length)
         SELECT $1, $2, c.seq - 1, $3, c.id, c.skip, c.length FROM unnest($4::bytea[], $5::int[], $6::int[]) WITH ORDINALITY AS c (id, skip, length, seq)`,
        [uploadId, part.partNumber, tenantId, pieces.map((p) => p.id), pieces.map((p) => p.skip), pieces.map((p) => p.length)],
      );
      return true;
    });
  }

  /** A copied part's chunks, in order, with where the part's bytes sit in each. */
  async copiedPartManifest(tenantId: string, uploadId: string, partNumber: number): Promise<{ id: Buffer; skip: number; length: number }[]> {
    const rows = (await this.db.query(
      `SELECT chunk_id, skip, length FROM part_chunks WHERE tenant_id = $1 AND upload_id = $2 AND part_number = $3 ORDER BY seq`,
      [tenantId, uploadId, partNumber],
    )) as { chunk_id: Buffer; skip: number; length: number }[];
    return rows.map((row) => ({ id: row.chunk_id, skip: row.skip, length: row.length }));
  }

  /** Turns a copied part into a spooled one (its bytes were read into `spoolPath`): for an upload mixing both. */
  async materializePart(tenantId: string, uploadId: string, partNumber: number, spoolPath: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [, updated] = (await tx.query(
        `UPDATE multipart_parts SET spool_path = $4, copied = false WHERE tenant_id = $1 AND upload_id = $2 AND part_number = $3 AND copied`,
        [tenantId, uploadId, partNumber, spoolPath],
      )) as [unknown, number];
      if (updated === 1) await tx.query(`DELETE FROM part_chunks WHERE upload_id = $1 AND part_number = $2`, [uploadId, partNumber]);
      return updated === 1;
    });
  }

  async listParts(tenantId: string, uploadId: string, afterPart: number, limit: number): Promise<MultipartPartEntity[]> {
    return this.db
      .getRepository(MultipartPartEntity)
      .createQueryBuilder('p')
      .where('p.upload_id = :uploadId AND p.tenant_id = :tenantId AND p.part_number > :afterPart', { uploadId, tenantId, afterPart })
      .orderBy('p.part_number', 'ASC')
      .limit(limit)
      .getMany();
  }

  /** Uploads in progress in a bucket, by key then upload id. */
  async list(
    tenantId: string,
    bucketId: string,
    page: { prefix: string; keyMarker: string; uploadIdMarker: string; limit: number },
  ): Promise<MultipartUploadEntity[]> {
    const query = this.db
      .getRepository(MultipartUploadEntity)
      .createQueryBuilder('u')
      .where('u.tenant_id = :tenantId AND u.bucket_id = :bucketId', { tenantId, bucketId })
      .andWhere('(u.key > :keyMarker OR (u.key = :keyMarker AND u.id > :uploadIdMarker))', {
        keyMarker: page.keyMarker,
        uploadIdMarker: page.uploadIdMarker,
      })
      .orderBy('u.key', 'ASC')
      .addOrderBy('u.id', 'ASC')
      .limit(page.limit);
    if (page.prefix !== '') query.andWhere('starts_with(u.key, :prefix)', { prefix: page.prefix });
    return query.getMany();
  }

  /**
   * Turns an upload into the key's `null` version in one transaction: the chosen parts' spool files
   * become the object's segments (no bytes move), the rest and any replaced version go to the
   * garbage outbox, and the upload disappears.
   */
  async complete(
    tenantId: string,
    bucketId: string,
    key: string,
    uploadId: string,
    container: string,
    objectId: string,
    plan: CompletionPlan,
  ): Promise<NewObjectVersion> {
    return this.db.transaction(async (tx) => {
      const upload = await lockUpload(tx, tenantId, bucketId, key, uploadId, 'FOR UPDATE');
      const parts = await tx.getRepository(MultipartPartEntity).find({ where: { uploadId, tenantId }, order: { partNumber: 'ASC' } });
      const { chosen, object } = plan(upload, parts);
      const chosenNumbers = new Set(chosen.map((part) => part.partNumber));
      await collectSpoolPaths(
        tx,
        tenantId,
        container,
        parts.filter((part) => !chosenNumbers.has(part.partNumber)).map((part) => ({ spool_path: part.spoolPath })),
      );
      const copied = chosen.filter((part) => part.copied).length;
      if (copied > 0 && copied < chosen.length) throw new Error('an upload mixing copied and uploaded parts must have its copied parts materialized first');
      const version: NewObjectVersion = {
        ...object,
        id: objectId,
        key,
        spool: chosen.filter((part) => part.spoolPath !== null).map((part) => ({ path: part.spoolPath!, size: part.size })),
      };
      await insertNullVersion(tx, tenantId, bucketId, container, version);
      if (copied > 0) {
        // every part was copied by reference: the object's manifest is theirs joined, stored at once
        await tx.query(
          `INSERT INTO object_chunks (object_id, seq, tenant_id, chunk_id, "offset", length, skip)
           SELECT $1, (row_number() OVER w) - 1, $2, pc.chunk_id,
                  coalesce(sum(pc.length) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0), pc.length, pc.skip
             FROM part_chunks pc
            WHERE pc.upload_id = $3 AND pc.tenant_id = $2 AND pc.part_number = ANY($4::int[])
           WINDOW w AS (ORDER BY pc.part_number, pc.seq)`,
          [objectId, tenantId, uploadId, [...chosenNumbers]],
        );
        await tx.query(`UPDATE objects SET state = 'stored', packed = true, spool = NULL, stored_at = now() WHERE id = $1`, [objectId]);
        await recordPutEvent(tx.query.bind(tx), tenantId, objectId);
      }
      await tx.query(`DELETE FROM multipart_uploads WHERE id = $1 AND tenant_id = $2`, [uploadId, tenantId]);
      return version;
    });
  }

  /** Drops an upload and its parts; their files go to the garbage outbox. */
  async abort(tenantId: string, bucketId: string, key: string, uploadId: string, container: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockUpload(tx, tenantId, bucketId, key, uploadId, 'FOR UPDATE');
      const parts = (await tx.query(`DELETE FROM multipart_parts WHERE upload_id = $1 AND tenant_id = $2 RETURNING spool_path`, [
        uploadId,
        tenantId,
      ])) as [{ spool_path: string | null }[], number];
      await collectSpoolPaths(tx, tenantId, container, parts[0]);
      await tx.query(`DELETE FROM multipart_uploads WHERE id = $1 AND tenant_id = $2`, [uploadId, tenantId]);
    });
  }
}

/** Removes a part about to be uploaded again under its number; its spool file goes to the garbage outbox. */
async function dropPart(tx: EntityManager, tenantId: string, container: string, uploadId: string, partNumber: number): Promise<void> {
  const previous = (await tx.query(
    `DELETE FROM multipart_parts WHERE upload_id = $1 AND tenant_id = $2 AND part_number = $3 RETURNING spool_path`,
    [uploadId, tenantId, partNumber],
  )) as [{ spool_path: string | null }[], number];
  await collectSpoolPaths(tx, tenantId, container, previous[0]);
}

/** Spool files of parts that are gone go to the garbage outbox (a copied part has none). */
async function collectSpoolPaths(tx: EntityManager, tenantId: string, container: string, rows: { spool_path: string | null }[]): Promise<void> {
  for (const row of rows) {
    if (row.spool_path) await tx.insert(GarbageEntity, { tenantId, container, blobName: null, spoolPath: row.spool_path });
  }
}

async function lockUpload(
  tx: EntityManager,
  tenantId: string,
  bucketId: string,
  key: string,
  uploadId: string,
  mode: 'FOR SHARE' | 'FOR UPDATE',
): Promise<MultipartUploadEntity> {
  const upload = await tx
    .getRepository(MultipartUploadEntity)
    .createQueryBuilder('u')
    .where('u.id = :uploadId AND u.tenant_id = :tenantId AND u.bucket_id = :bucketId AND u.key = :key', {
      uploadId,
      tenantId,
      bucketId,
      key,
    })
    .setLock(mode === 'FOR SHARE' ? 'pessimistic_read' : 'pessimistic_write')
    .getOne();
  if (!upload) throw noSuchUpload();
  return upload;
}
