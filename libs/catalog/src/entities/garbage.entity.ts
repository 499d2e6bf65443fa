import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * Outbox of bytes to remove once the rows that referenced them are gone: written in the same
 * transaction as the delete, drained by the worker, so a crash can delay a removal but never lose it.
 */
@Entity('garbage')
export class GarbageEntity {
  @PrimaryGeneratedColumn('increment', { type: 'bigint' }) id: string;
  @Column('uuid', { name: 'tenant_id' }) tenantId: string;
  @Column('text') container: string;
  @Column('text', { name: 'blob_name', nullable: true }) blobName: string | null;
  @Column('text', { name: 'spool_path', nullable: true }) spoolPath: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
