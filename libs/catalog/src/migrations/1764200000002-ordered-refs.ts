import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Manifests that share chunks (the same bytes backed up twice at once) raised each other's reference
 * counts in whatever order the join produced, and two such transactions could deadlock (seen in the
 * ingest benchmark: retried, so nothing was lost, but each retry redid the repack). The counts are
 * now changed after locking the chunk rows in key order, so they always queue instead.
 */
export class OrderedRefs1764200000002 implements MigrationInterface {
  name = 'OrderedRefs1764200000002';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE OR REPLACE FUNCTION object_chunks_count_refs() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF TG_OP = 'INSERT' THEN
          PERFORM 1 FROM chunks c
            WHERE (c.tenant_id, c.id) IN (SELECT tenant_id, chunk_id FROM added)
            ORDER BY c.tenant_id, c.id FOR NO KEY UPDATE;
          UPDATE chunks c SET refs = c.refs + n.n, unreferenced_since = NULL
            FROM (SELECT tenant_id, chunk_id, count(*)::int AS n FROM added GROUP BY 1, 2) n
           WHERE c.tenant_id = n.tenant_id AND c.id = n.chunk_id;
        ELSE
          PERFORM 1 FROM chunks c
            WHERE (c.tenant_id, c.id) IN (SELECT tenant_id, chunk_id FROM removed)
            ORDER BY c.tenant_id, c.id FOR NO KEY UPDATE;
          UPDATE chunks c SET refs = c.refs - n.n,
                 unreferenced_since = CASE WHEN c.refs = n.n THEN now() ELSE NULL END
            FROM (SELECT tenant_id, chunk_id, count(*)::int AS n FROM removed GROUP BY 1, 2) n
           WHERE c.tenant_id = n.tenant_id AND c.id = n.chunk_id;
        END IF;
        RETURN NULL;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE OR REPLACE FUNCTION object_chunks_count_refs() RETURNS trigger LANGUAGE plpgsql AS $$
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
  }
}
