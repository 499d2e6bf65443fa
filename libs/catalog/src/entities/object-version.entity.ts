import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { bigintToNumber } from './columns.js';

export type ObjectState = 'staged' | 'stored';

/** A file of the local spool holding part of an object's bytes, in order. */
export interface SpoolSegment {
  path: string;
  size: number;
}

/** Size and ETag of each part of a multipart object, for partNumber reads and ListParts-like views. */
export interface PartInfo {
  size: number;
  etag: string;
}

/** Standard headers stored with an object and returned on GET/HEAD. */
export interface StoredHeaders {
  contentEncoding?: string;
  contentDisposition?: string;
  contentLanguage?: string;
  cacheControl?: string;
  expires?: string;
}

/**
 * One version of an object. Unversioned buckets hold exactly one version per key, the `null`
 * version; versioning, delete markers and retention use the same rows later.
 */
@Entity('objects')
export class ObjectVersionEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'tenant_id' }) tenantId: string;
  @Column('uuid', { name: 'bucket_id' }) bucketId: string;
  @Column('text') key: string;
  @Column('text', { name: 'version_id' }) versionId: string;
  @Column('boolean', { name: 'is_latest' }) isLatest: boolean;
  @Column('boolean', { name: 'is_delete_marker' }) isDeleteMarker: boolean;
  @Column('text') state: ObjectState;
  @Column('bigint', { transformer: bigintToNumber }) size: number;
  @Column('text') etag: string;
  @Column('text', { name: 'content_type', nullable: true }) contentType: string | null;
  @Column('jsonb') headers: StoredHeaders;
  @Column('jsonb', { name: 'user_metadata' }) userMetadata: Record<string, string>;
  @Column('jsonb') checksums: Record<string, string>;
  @Column('text', { name: 'checksum_type', nullable: true }) checksumType: string | null;
  @Column('jsonb', { nullable: true }) parts: PartInfo[] | null;
  @Column('jsonb', { nullable: true }) spool: SpoolSegment[] | null;
  @Column('text', { name: 'blob_name', nullable: true }) blobName: string | null;
  /** Stored as chunks in packs (its manifest is in object_chunks), not as a blob of its own. */
  @Column('boolean') packed: boolean;
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' }) createdAt: Date;
  @Column('timestamptz', { name: 'stored_at', nullable: true }) storedAt: Date | null;
}
