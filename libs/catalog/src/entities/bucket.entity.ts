import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';

export type VersioningState = 'Unversioned' | 'Enabled' | 'Suspended';

@Entity('buckets')
export class BucketEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'tenant_id' }) tenantId: string;
  @Column('text') name: string;
  @Column('text') versioning: VersioningState;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
