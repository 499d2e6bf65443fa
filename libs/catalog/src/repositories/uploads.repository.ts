import { randomBytes } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource, type EntityManager } from 'typeorm';
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
      const previous = (await tx.query(
        `DELETE FROM multipart_parts WHERE upload_id = $1 AND tenant_id = $2 AND part_number = $3 RETURNING spool_path`,
        [uploadId, tenantId, part.partNumber],
      )) as [{ spool_path: string }[], number];
      for (const row of previous[0]) await tx.insert(GarbageEntity, { tenantId, container, blobName: null, spoolPath: row.spool_path });
      await tx.insert(MultipartPartEntity, { ...part, uploadId, tenantId });
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
      for (const part of parts) {
        if (!chosenNumbers.has(part.partNumber)) {
          await tx.insert(GarbageEntity, { tenantId, container, blobName: null, spoolPath: part.spoolPath });
        }
      }
      await tx.query(`DELETE FROM multipart_uploads WHERE id = $1 AND tenant_id = $2`, [uploadId, tenantId]);
      const version: NewObjectVersion = {
        ...object,
        id: objectId,
        key,
        spool: chosen.map((part) => ({ path: part.spoolPath, size: part.size })),
      };
      await insertNullVersion(tx, tenantId, bucketId, container, version);
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
      ])) as [{ spool_path: string }[], number];
      for (const row of parts[0]) await tx.insert(GarbageEntity, { tenantId, container, blobName: null, spoolPath: row.spool_path });
      await tx.query(`DELETE FROM multipart_uploads WHERE id = $1 AND tenant_id = $2`, [uploadId, tenantId]);
    });
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
