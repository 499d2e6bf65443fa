import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource } from 'typeorm';
import { BucketEntity } from '../entities/bucket.entity.js';
import { pgCode, PG_FOREIGN_KEY_VIOLATION, PG_UNIQUE_VIOLATION } from './pg-errors.js';

export const MAX_BUCKETS_PER_TENANT = 1000;

@Injectable()
export class BucketsRepository {
  constructor(private readonly db: DataSource) {}

  async create(tenantId: string, name: string): Promise<BucketEntity> {
    const repo = this.db.getRepository(BucketEntity);
    if ((await repo.countBy({ tenantId })) >= MAX_BUCKETS_PER_TENANT) {
      throw new FerryError(FerryErrorCode.TooManyBuckets, `a tenant may own at most ${MAX_BUCKETS_PER_TENANT} buckets`);
    }
    try {
      await repo.insert({ id: randomUUID(), tenantId, name, versioning: 'Unversioned' });
    } catch (error) {
      if (pgCode(error) === PG_UNIQUE_VIOLATION) {
        throw new FerryError(FerryErrorCode.BucketAlreadyOwnedByYou, `you already own bucket ${name}`, { bucket: name });
      }
      if (pgCode(error) === PG_FOREIGN_KEY_VIOLATION) {
        throw new FerryError(FerryErrorCode.AccessDenied, 'tenant no longer exists');
      }
      throw error;
    }
    return repo.findOneByOrFail({ tenantId, name });
  }

  list(tenantId: string): Promise<BucketEntity[]> {
    return this.db.getRepository(BucketEntity).find({ where: { tenantId }, order: { name: 'ASC' } });
  }

  async get(tenantId: string, name: string): Promise<BucketEntity> {
    const bucket = await this.db.getRepository(BucketEntity).findOneBy({ tenantId, name });
    if (!bucket) throw new FerryError(FerryErrorCode.NoSuchBucket, 'The specified bucket does not exist', { bucket: name });
    return bucket;
  }

  /**
   * Deletes an empty bucket. The row lock makes a racing PutObject (whose insert takes a key-share
   * lock through its foreign key) either finish first, so the bucket is not empty, or fail with NoSuchBucket.
   */
  async deleteEmpty(tenantId: string, name: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      const rows = (await tx.query(`SELECT id FROM buckets WHERE tenant_id = $1 AND name = $2 FOR UPDATE`, [
        tenantId,
        name,
      ])) as { id: string }[];
      if (rows.length === 0) {
        throw new FerryError(FerryErrorCode.NoSuchBucket, 'The specified bucket does not exist', { bucket: name });
      }
      const [busy] = (await tx.query(
        `SELECT EXISTS (SELECT 1 FROM objects WHERE bucket_id = $1)
             OR EXISTS (SELECT 1 FROM multipart_uploads WHERE bucket_id = $1) AS busy`,
        [rows[0].id],
      )) as { busy: boolean }[];
      if (busy.busy) {
        throw new FerryError(FerryErrorCode.BucketNotEmpty, 'The bucket you tried to delete is not empty', { bucket: name });
      }
      await tx.query(`DELETE FROM buckets WHERE id = $1 AND tenant_id = $2`, [rows[0].id, tenantId]);
    });
  }
}
