import { Injectable } from '@nestjs/common';
import { FerryError, FerryErrorCode } from '@ferry/common';
import { DataSource } from 'typeorm';
import { AccessKeyEntity } from '../entities/access-key.entity.js';
import type { TenantStatus } from '../entities/tenant.entity.js';
import type { NewAccessKey } from './tenants.repository.js';

export interface KeyOwner {
  accessKeyId: string;
  tenantId: string;
  tenantStatus: TenantStatus;
  container: string;
  secretSealed: Buffer;
  masterKeyId: string;
}

@Injectable()
export class AccessKeysRepository {
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
   * keys of deleted tenants are not found.
   */
  async findActive(accessKeyId: string): Promise<KeyOwner | undefined> {
    const rows = (await this.db.query(
      `SELECT k.access_key_id, k.tenant_id, t.status, t.container, k.secret_sealed, k.master_key_id
         FROM access_keys k JOIN tenants t ON t.id = k.tenant_id
        WHERE k.access_key_id = $1 AND k.status = 'active'`,
      [accessKeyId],
    )) as {
      access_key_id: string;
      tenant_id: string;
      status: TenantStatus;
      container: string;
      secret_sealed: Buffer;
      master_key_id: string;
    }[];
    const row = rows[0];
    return row
      ? {
          accessKeyId: row.access_key_id,
          tenantId: row.tenant_id,
          tenantStatus: row.status,
          container: row.container,
          secretSealed: row.secret_sealed,
          masterKeyId: row.master_key_id,
        }
      : undefined;
  }
}
