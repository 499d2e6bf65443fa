import type { MigrationInterface, QueryRunner } from 'typeorm';

export class InitialCatalog1764000000000 implements MigrationInterface {
  name = 'InitialCatalog1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE tenants (
        id uuid PRIMARY KEY,
        name text NOT NULL UNIQUE,
        quota_bytes bigint NOT NULL CHECK (quota_bytes >= 0),
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
        container text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`
      CREATE TABLE access_keys (
        access_key_id text PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        secret_sealed bytea NOT NULL,
        master_key_id text NOT NULL,
        description text,
        status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      )`);
    await db.query(`CREATE INDEX access_keys_tenant ON access_keys (tenant_id)`);
    await db.query(`
      CREATE TABLE buckets (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        name text NOT NULL,
        versioning text NOT NULL DEFAULT 'Unversioned' CHECK (versioning IN ('Unversioned', 'Enabled', 'Suspended')),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (tenant_id, name)
      )`);
    // Keys sort in byte order (COLLATE "C"), as S3 lists them.
    await db.query(`
      CREATE TABLE objects (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        bucket_id uuid NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
        key text COLLATE "C" NOT NULL,
        version_id text NOT NULL DEFAULT 'null',
        is_latest boolean NOT NULL DEFAULT true,
        is_delete_marker boolean NOT NULL DEFAULT false,
        state text NOT NULL CHECK (state IN ('staged', 'stored')),
        size bigint NOT NULL CHECK (size >= 0),
        etag text NOT NULL,
        content_type text,
        headers jsonb NOT NULL DEFAULT '{}',
        user_metadata jsonb NOT NULL DEFAULT '{}',
        checksums jsonb NOT NULL DEFAULT '{}',
        checksum_type text,
        parts jsonb,
        spool jsonb,
        blob_name text,
        created_at timestamptz NOT NULL DEFAULT now(),
        stored_at timestamptz,
        UNIQUE (bucket_id, key, version_id),
        CHECK (state = 'staged' OR blob_name IS NOT NULL)
      )`);
    await db.query(`CREATE UNIQUE INDEX objects_latest ON objects (bucket_id, key) WHERE is_latest`);
    await db.query(`CREATE INDEX objects_tenant ON objects (tenant_id)`);
    await db.query(`CREATE INDEX objects_staged ON objects (created_at) WHERE state = 'staged'`);
    await db.query(`CREATE INDEX objects_cached ON objects (stored_at) WHERE spool IS NOT NULL AND state = 'stored'`);
    await db.query(`
      CREATE TABLE multipart_uploads (
        id text PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        bucket_id uuid NOT NULL REFERENCES buckets (id) ON DELETE CASCADE,
        key text COLLATE "C" NOT NULL,
        content_type text,
        headers jsonb NOT NULL DEFAULT '{}',
        user_metadata jsonb NOT NULL DEFAULT '{}',
        checksum_algorithm text,
        checksum_type text,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX multipart_uploads_bucket ON multipart_uploads (bucket_id, key)`);
    await db.query(`
      CREATE TABLE multipart_parts (
        upload_id text NOT NULL REFERENCES multipart_uploads (id) ON DELETE CASCADE,
        part_number int NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        size bigint NOT NULL CHECK (size >= 0),
        etag text NOT NULL,
        checksums jsonb NOT NULL DEFAULT '{}',
        spool_path text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (upload_id, part_number)
      )`);
    await db.query(`
      CREATE TABLE garbage (
        id bigserial PRIMARY KEY,
        tenant_id uuid NOT NULL,
        container text NOT NULL,
        blob_name text,
        spool_path text,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK (blob_name IS NOT NULL OR spool_path IS NOT NULL)
      )`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['garbage', 'multipart_parts', 'multipart_uploads', 'objects', 'buckets', 'access_keys', 'tenants']) {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
