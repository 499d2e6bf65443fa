import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The repackaging engine's catalog (docs/format.md): tenant keys, packs, the per-tenant chunk index
 * and object manifests. Chunk reference counts are kept by triggers on the manifests, so every way
 * an object row disappears (delete, overwrite, bucket or tenant removal) lowers them.
 */
export class Packing1764100000000 implements MigrationInterface {
  name = 'Packing1764100000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE tenant_keys (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        kind text NOT NULL CHECK (kind IN ('chunk-id', 'data')),
        number int NOT NULL CHECK (number >= 1),
        master_key_id text NOT NULL,
        wrapped bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (tenant_id, kind, number),
        CHECK (kind = 'data' OR number = 1)
      )`);
    await db.query(`
      CREATE TABLE packs (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        key_number int NOT NULL,
        size bigint NOT NULL CHECK (size > 0),
        chunk_count int NOT NULL,
        -- catalog events in its index: a pack that carries some is never simply deleted (its events
        -- would leave the container); the prune job moves them on
        event_count int NOT NULL DEFAULT 0,
        -- 'writing' is recorded before the upload, so a pack blob whose commit never came is known
        -- to be Ferry's own leftover; a blob no row names is never removed automatically
        -- 'retired': its chunks were moved to a new pack (prune, repair); the blob goes once no read
        -- that started before the move can still be fetching from it
        state text NOT NULL CHECK (state IN ('writing', 'stored', 'retired')),
        created_at timestamptz NOT NULL DEFAULT now(),
        retired_at timestamptz,
        verified_at timestamptz
      )`);
    await db.query(`CREATE INDEX packs_tenant ON packs (tenant_id)`);
    await db.query(`CREATE INDEX packs_writing ON packs (created_at) WHERE state = 'writing'`);
    // pack_id is null while an ingest holds the claim to store the chunk (claimed_at says since when)
    await db.query(`
      CREATE TABLE chunks (
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        id bytea NOT NULL CHECK (length(id) = 32),
        pack_id uuid REFERENCES packs (id) ON DELETE CASCADE,
        frame_offset bigint,
        frame_length int,
        plain_length int NOT NULL CHECK (plain_length > 0),
        codec smallint,
        refs int NOT NULL DEFAULT 0 CHECK (refs >= 0),
        claimed_at timestamptz,
        claimed_by uuid,
        unreferenced_since timestamptz DEFAULT now(),
        PRIMARY KEY (tenant_id, id),
        CHECK (pack_id IS NOT NULL OR claimed_at IS NOT NULL),
        CHECK (pack_id IS NULL OR (frame_offset IS NOT NULL AND frame_length IS NOT NULL AND codec IS NOT NULL))
      )`);
    await db.query(`CREATE INDEX chunks_pack ON chunks (pack_id)`);
    await db.query(`CREATE INDEX chunks_unreferenced ON chunks (unreferenced_since) WHERE refs = 0`);
    // The foreign key to chunks is what makes dedup safe against the collector: inserting a manifest
    // locks the chunk rows it names, and fails if one was collected meanwhile.
    await db.query(`
      CREATE TABLE object_chunks (
        object_id uuid NOT NULL REFERENCES objects (id) ON DELETE CASCADE,
        seq int NOT NULL,
        tenant_id uuid NOT NULL,
        chunk_id bytea NOT NULL,
        "offset" bigint NOT NULL,
        length int NOT NULL,
        -- where the object's bytes start inside the chunk: 0 except where a ranged part copy cut it
        skip int NOT NULL DEFAULT 0 CHECK (skip >= 0),
        PRIMARY KEY (object_id, seq),
        FOREIGN KEY (tenant_id, chunk_id) REFERENCES chunks (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX object_chunks_chunk ON object_chunks (tenant_id, chunk_id)`);
    // UploadPartCopy of a repacked source records the range's chunks instead of copying bytes
    await db.query(`ALTER TABLE multipart_parts ALTER COLUMN spool_path DROP NOT NULL`);
    await db.query(`ALTER TABLE multipart_parts ADD COLUMN copied boolean NOT NULL DEFAULT false`);
    await db.query(`ALTER TABLE multipart_parts ADD CONSTRAINT multipart_parts_bytes CHECK ((spool_path IS NULL) = copied)`);
    await db.query(`
      CREATE TABLE part_chunks (
        upload_id text NOT NULL,
        part_number int NOT NULL,
        seq int NOT NULL,
        tenant_id uuid NOT NULL,
        chunk_id bytea NOT NULL,
        skip int NOT NULL CHECK (skip >= 0),
        length int NOT NULL CHECK (length > 0),
        PRIMARY KEY (upload_id, part_number, seq),
        FOREIGN KEY (upload_id, part_number) REFERENCES multipart_parts (upload_id, part_number) ON DELETE CASCADE,
        FOREIGN KEY (tenant_id, chunk_id) REFERENCES chunks (tenant_id, id)
      )`);
    await db.query(`CREATE INDEX part_chunks_chunk ON part_chunks (tenant_id, chunk_id)`);
    await db.query(`
      CREATE FUNCTION object_chunks_count_refs() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          UPDATE chunks c SET refs = c.refs + n.n, unreferenced_since = NULL
            FROM (SELECT tenant_id, chunk_id, count(*)::int AS n FROM added GROUP BY 1, 2) n
           WHERE c.tenant_id = n.tenant_id AND c.id = n.chunk_id;
        ELSE
          UPDATE chunks c SET refs = c.refs - n.n,
                 unreferenced_since = CASE WHEN c.refs = n.n THEN now() ELSE NULL END
            FROM (SELECT tenant_id, chunk_id, count(*)::int AS n FROM removed GROUP BY 1, 2) n
           WHERE c.tenant_id = n.tenant_id AND c.id = n.chunk_id;
        END IF;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER object_chunks_added AFTER INSERT ON object_chunks
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION object_chunks_count_refs()`);
    await db.query(`
      CREATE TRIGGER object_chunks_removed AFTER DELETE ON object_chunks
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION object_chunks_count_refs()`);
    // a copied part holds its chunks like an object does, until it is completed or aborted
    await db.query(`
      CREATE TRIGGER part_chunks_added AFTER INSERT ON part_chunks
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION object_chunks_count_refs()`);
    await db.query(`
      CREATE TRIGGER part_chunks_removed AFTER DELETE ON part_chunks
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION object_chunks_count_refs()`);
    // A repacked object has a manifest instead of a blob of its own.
    await db.query(`ALTER TABLE objects DROP CONSTRAINT objects_check`);
    await db.query(`ALTER TABLE objects ADD COLUMN packed boolean NOT NULL DEFAULT false`);
    await db.query(`ALTER TABLE objects ADD CONSTRAINT objects_stored_somewhere CHECK (state = 'staged' OR blob_name IS NOT NULL OR packed)`);
    await db.query(`CREATE SEQUENCE catalog_event_seq`);
    await db.query(`
      CREATE TABLE verify_runs (
        id uuid PRIMARY KEY,
        tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
        state text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
        requested_at timestamptz NOT NULL DEFAULT now(),
        started_at timestamptz,
        finished_at timestamptz,
        report jsonb
      )`);
    await db.query(`CREATE INDEX verify_runs_tenant ON verify_runs (tenant_id, requested_at)`);
    // The outbox of catalog events bound for the container (docs/format.md): written by triggers in
    // the transaction of the change itself, so no path that removes an object or a bucket can skip
    // it; the worker moves them into the tenant's next pack. No foreign key: a tenant being deleted
    // still writes events for its rows, which the worker then drops.
    await db.query(`
      CREATE TABLE catalog_events (
        seq bigint PRIMARY KEY DEFAULT nextval('catalog_event_seq'),
        tenant_id uuid NOT NULL,
        event jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX catalog_events_tenant ON catalog_events (tenant_id, seq)`);
    await db.query(`
      CREATE FUNCTION objects_removed_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO catalog_events (tenant_id, event)
        SELECT o.tenant_id, jsonb_build_object('type', 'object.delete', 'at', now(), 'bucket', b.name, 'key', o.key,
                                               'versionId', o.version_id, 'objectId', o.id)
          FROM removed o LEFT JOIN buckets b ON b.id = o.bucket_id
         WHERE NOT o.is_delete_marker
         ORDER BY o.key;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER objects_removed AFTER DELETE ON objects
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION objects_removed_event()`);
    await db.query(`
      CREATE FUNCTION buckets_changed_event() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          INSERT INTO catalog_events (tenant_id, event)
          SELECT tenant_id, jsonb_build_object('type', 'bucket.create', 'at', now(), 'bucket', name) FROM changed;
        ELSE
          INSERT INTO catalog_events (tenant_id, event)
          SELECT tenant_id, jsonb_build_object('type', 'bucket.delete', 'at', now(), 'bucket', name) FROM changed;
        END IF;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER buckets_created AFTER INSERT ON buckets
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION buckets_changed_event()`);
    await db.query(`
      CREATE TRIGGER buckets_deleted AFTER DELETE ON buckets
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION buckets_changed_event()`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TRIGGER IF EXISTS buckets_created ON buckets`);
    await db.query(`DROP TRIGGER IF EXISTS buckets_deleted ON buckets`);
    await db.query(`DROP TRIGGER IF EXISTS objects_removed ON objects`);
    await db.query(`DROP FUNCTION IF EXISTS buckets_changed_event`);
    await db.query(`DROP FUNCTION IF EXISTS objects_removed_event`);
    await db.query(`DROP TABLE IF EXISTS catalog_events`);
    await db.query(`DROP TABLE IF EXISTS verify_runs`);
    await db.query(`DROP SEQUENCE IF EXISTS catalog_event_seq`);
    await db.query(`ALTER TABLE objects DROP CONSTRAINT IF EXISTS objects_stored_somewhere`);
    await db.query(`ALTER TABLE objects DROP COLUMN IF EXISTS packed`);
    await db.query(`ALTER TABLE objects ADD CONSTRAINT objects_check CHECK (state = 'staged' OR blob_name IS NOT NULL)`);
    for (const table of ['part_chunks', 'object_chunks', 'chunks', 'packs', 'tenant_keys']) await db.query(`DROP TABLE IF EXISTS ${table}`);
    await db.query(`ALTER TABLE multipart_parts DROP CONSTRAINT IF EXISTS multipart_parts_bytes`);
    await db.query(`ALTER TABLE multipart_parts DROP COLUMN IF EXISTS copied`);
    await db.query(`DROP FUNCTION IF EXISTS object_chunks_count_refs`);
  }
}
