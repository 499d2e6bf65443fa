import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './columns.js';
import type { StoredHeaders } from './object-version.entity.js';

@Entity('multipart_uploads')
export class MultipartUploadEntity {
  @PrimaryColumn('text') id: string;
  @Column('uuid', { name: 'tenant_id' }) tenantId: string;
  @Column('uuid', { name: 'bucket_id' }) bucketId: string;
  @Column('text') key: string;
  @Column('text', { name: 'content_type', nullable: true }) contentType: string | null;
  @Column('jsonb') headers: StoredHeaders;
  @Column('jsonb', { name: 'user_metadata' }) userMetadata: Record<string, string>;
  @Column('text', { name: 'checksum_algorithm', nullable: true }) checksumAlgorithm: string | null;
  @Column('text', { name: 'checksum_type', nullable: true }) checksumType: string | null;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}

@Entity('multipart_parts')
export class MultipartPartEntity {
  @PrimaryColumn('text', { name: 'upload_id' }) uploadId: string;
  @PrimaryColumn('int', { name: 'part_number' }) partNumber: number;
  @Column('uuid', { name: 'tenant_id' }) tenantId: string;
  @Column('bigint', { transformer: bigintToNumber }) size: number;
  @Column('text') etag: string;
  @Column('jsonb') checksums: Record<string, string>;
  /** The part's bytes in the spool; null for a part copied by reference (`part_chunks` names its chunks). */
  @Column('text', { name: 'spool_path', nullable: true }) spoolPath: string | null;
  @Column('boolean') copied: boolean;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
}
