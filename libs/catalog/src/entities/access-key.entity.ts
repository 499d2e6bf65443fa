import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export type AccessKeyStatus = 'active' | 'revoked';

@Entity('access_keys')
export class AccessKeyEntity {
  @PrimaryColumn('text', { name: 'access_key_id' }) accessKeyId: string;
  @Column('uuid', { name: 'tenant_id' }) tenantId: string;
  /** The secret, sealed under the master key named by masterKeyId; never stored in clear. */
  @Column('bytea', { name: 'secret_sealed' }) secretSealed: Buffer;
  @Column('text', { name: 'master_key_id' }) masterKeyId: string;
  @Column('text', { nullable: true }) description: string | null;
  @Column('text') status: AccessKeyStatus;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @Column('timestamptz', { name: 'revoked_at', nullable: true }) revokedAt: Date | null;
}
