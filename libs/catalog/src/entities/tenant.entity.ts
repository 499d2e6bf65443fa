import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintToNumber } from './columns.js';

export type TenantStatus = 'active' | 'suspended';

@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('bigint', { name: 'quota_bytes', transformer: bigintToNumber }) quotaBytes: number;
  @Column('text') status: TenantStatus;
  /** The tenant's own Blob container; fixed at creation so renaming a tenant never moves data. */
  @Column('text') container: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
}
