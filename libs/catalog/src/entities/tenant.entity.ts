import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';
import { bigintToNumber } from './columns.js';

export type TenantStatus = 'active' | 'suspended';

@Entity('tenants')
export class TenantEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') name: string;
  @Column('bigint', { name: 'quota_bytes', transformer: bigintToNumber }) quotaBytes: number;
  @Column('text') status: TenantStatus;
  /** The end of the tenant's service lease: past it, writes are refused as for a suspended tenant. */
  @Column('timestamptz', { name: 'lease_expires_at', nullable: true }) leaseExpiresAt: Date | null;
  /** When the tenant may not write (suspended, lease over): refuse reads too. */
  @Column('boolean', { name: 'block_reads' }) blockReads: boolean;
  /** The tenant's own Blob container; fixed at creation so renaming a tenant never moves data. */
  @Column('text') container: string;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @UpdateDateColumn({ name: 'updated_at', type: 'timestamptz' }) updatedAt: Date;
}
