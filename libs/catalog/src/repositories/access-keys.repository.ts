import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource } from 'typeorm';
import { AccessKeyEntity } from '../entities/access-key.entity.js';
import type { TenantStatus } from '../entities/tenant.entity.js';
import { BucketEntity, type VersioningState } from '../entities/bucket.entity.js';
import { ObjectVersionEntity } from '../entities/object-version.entity.js';
import type { NewAccessKey } from './tenants.repository.js';
import { preparedRows } from './prepared.js';
import { RawRows } from './raw-rows.js';

export interface KeyOwner {
  accessKeyId: string;
  tenantId: string;
  tenantStatus: TenantStatus;
  leaseExpiresAt: Date | null;
  blockReads: boolean;
  container: string;
  secretSealed: Buffer;
  masterKeyId: string;
  /** The bucket the request named, looked up with the key: null when the tenant has none of that name. */
  bucket?: BucketEntity | null;
  /** The object version the request named, looked up with the key and the bucket: null when there is none. */
  object?: ObjectVersionEntity | null;
}

@Injectable()
export class AccessKeysRepository {
  private objectRows?: RawRows<ObjectVersionEntity>;

  constructor(private readonly db: DataSource) {}

  async create(tenantId: string, key: NewAccessKey): Promise<AccessKeyEntity> {
    await this.db.getRepository(AccessKeyEntity).insert({ ...key, tenantId, status: 'active', revokedAt: null });
    return this.db.getRepository(AccessKeyEntity).findOneByOrFail({ tenantId, accessKeyId: key.accessKeyId });
  }

  list(tenantId: string): Promise<AccessKeyEntity[]> {
    return this.db.getRepository(AccessKeyEntity).find({ where: { tenantId }, order: { createdAt: 'ASC' } });
  }

  async revoke(tenantId: string, accessKeyId: string): Promise<AccessKeyEntity> {
    await this.db
      .getRepository(AccessKeyEntity)
      .update({ tenantId, accessKeyId, status: 'active' }, { status: 'revoked', revokedAt: new Date() });
    const key = await this.db.getRepository(AccessKeyEntity).findOneBy({ tenantId, accessKeyId });
    if (!key) throw new FerryError(FerryErrorCode.AccessKeyNotFound, `tenant has no access key ${accessKeyId}`);
    return key;
  }

  /**
   * The one lookup not scoped by tenant: it is how a request finds its tenant. Revoked keys and
   * keys of deleted tenants are not found. When the request names a bucket, that tenant's bucket
   * of the name comes in the same round trip (null when it has none): the key decides the tenant,
   * so the bucket can never be another tenant's.
   */
  async findActive(accessKeyId: string, bucketName?: string, object?: { key: string; versionId: string }): Promise<KeyOwner | undefined> {
    if (object && bucketName === undefined) throw new Error('an object is looked up with its bucket');
    this.objectRows ??= new RawRows(this.db, ObjectVersionEntity, 'o', 'o_');
    const rows = (await preparedRows(
      this.db,
      `SELECT k.access_key_id, k.tenant_id, t.status, t.lease_expires_at, t.block_reads, t.container, k.secret_sealed, k.master_key_id,
              b.id AS bucket_id, b.name AS bucket_name, b.versioning AS bucket_versioning, b.created_at AS bucket_created_at
              ${object ? `, ${this.objectRows.columns}` : ''}
         FROM access_keys k
         JOIN tenants t ON t.id = k.tenant_id
         LEFT JOIN buckets b ON b.tenant_id = k.tenant_id AND b.name = $2
         ${object ? 'LEFT JOIN objects o ON o.tenant_id = k.tenant_id AND o.bucket_id = b.id AND o.key = $3 AND o.version_id = $4' : ''}
        WHERE k.access_key_id = $1 AND k.status = 'active'`,
      object ? [accessKeyId, bucketName, object.key, object.versionId] : [accessKeyId, bucketName ?? null],
    )) as {
      access_key_id: string;
      tenant_id: string;
      status: TenantStatus;
      lease_expires_at: Date | null;
      block_reads: boolean;
      container: string;
      secret_sealed: Buffer;
      master_key_id: string;
      bucket_id: string | null;
      bucket_name: string | null;
      bucket_versioning: VersioningState | null;
      bucket_created_at: Date | null;
      /** The object's columns follow as o_<column> when an object was asked for. */
      o_id?: string | null;
    }[];
    const row = rows[0];
    if (!row) return undefined;
    const bucket =
      bucketName === undefined
        ? undefined
        : row.bucket_id === null
          ? null
          : Object.assign(new BucketEntity(), {
              id: row.bucket_id,
              tenantId: row.tenant_id,
              name: row.bucket_name!,
              versioning: row.bucket_versioning!,
              createdAt: row.bucket_created_at!,
            });
    return {
      accessKeyId: row.access_key_id,
      tenantId: row.tenant_id,
      tenantStatus: row.status,
      leaseExpiresAt: row.lease_expires_at,
      blockReads: row.block_reads,
      container: row.container,
      secretSealed: row.secret_sealed,
      masterKeyId: row.master_key_id,
      bucket,
      ...(object ? { object: row.o_id ? this.objectRows.map(row as unknown as Record<string, unknown>) : null } : {}),
    };
  }
}
