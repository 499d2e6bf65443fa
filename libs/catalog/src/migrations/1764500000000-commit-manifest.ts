import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An object's manifest committed in one statement: mark the object stored, insert its manifest (the
 * trigger locks the chunk rows in key order and raises their refs), and point its chunks at its spool
 * files (the recovery cache). The same three statements, in the same order, as the transaction the
 * worker ran before, so the locks are taken as before; but one round trip to Postgres instead of five
 * (BEGIN, three statements, COMMIT), for every object repacked. A statement is its own transaction:
 * a chunk collected meanwhile fails the manifest's foreign key and undoes the whole call.
 * Returns false, having changed nothing, when the object is no longer staged.
 */
export class CommitManifest1764500000000 implements MigrationInterface {
  name = 'CommitManifest1764500000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION commit_manifest(p_tenant uuid, p_object uuid, p_ids bytea[], p_offsets bigint[], p_lengths int[], p_skips int[],
                                      p_cached_ids bytea[], p_cached_offsets bigint[]) RETURNS boolean LANGUAGE plpgsql AS $$
      BEGIN
        UPDATE objects SET state = 'stored', packed = true, stored_at = now()
         WHERE tenant_id = p_tenant AND id = p_object AND state = 'staged';
        IF NOT FOUND THEN
          RETURN false;
        END IF;
        INSERT INTO object_chunks (object_id, seq, tenant_id, chunk_id, "offset", length, skip)
        SELECT p_object, m.seq - 1, p_tenant, m.id, m.off, m.len, m.skip
          FROM unnest(p_ids, p_offsets, p_lengths, p_skips) WITH ORDINALITY AS m (id, off, len, skip, seq);
        UPDATE chunks c SET cached_in = p_object, cached_at = m.off
          FROM unnest(p_cached_ids, p_cached_offsets) AS m (id, off)
         WHERE c.tenant_id = p_tenant AND c.id = m.id;
        RETURN true;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP FUNCTION commit_manifest(uuid, uuid, bytea[], bigint[], int[], int[], bytea[], bigint[])`);
  }
}
