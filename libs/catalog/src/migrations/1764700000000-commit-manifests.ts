import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The manifests of many objects of one tenant committed in one statement. A worker stores a group of
 * small objects together (one pack), and they reach their commits together: 64 calls of
 * `commit_manifest`, each its own transaction, cost Postgres 590-670 µs of CPU per object here,
 * and one call for the 64 about 270 µs per object (docs/benchmarks.md, tenth session).
 *
 * Every chunk the batch names is locked first, in key order, as the refs trigger locks one manifest's:
 * two batches (or a batch and a single manifest) that share chunks then queue rather than deadlock,
 * where each manifest locking its own in key order would not order the batch's as a whole. A chunk
 * the collector removed before the lock fails only the objects that name it ('chunk-gone', nothing
 * of theirs written); one it has not reached can no longer be collected, as refs is raised before
 * the lock is let go. Otherwise each object is exactly what `commit_manifest` makes of it. (The
 * collector meets rows in no particular order, but it skips the rows others hold rather than wait
 * for them, so it cannot deadlock with a batch: `ChunksRepository.collectChunks`.)
 * Returns one outcome per object: 'stored', 'object-gone' (no longer staged) or 'chunk-gone'.
 * The chunk arrays are every object's in turn; `p_counts` and `p_cached_counts` say how many are whose.
 */
export class CommitManifests1764700000000 implements MigrationInterface {
  name = 'CommitManifests1764700000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE FUNCTION commit_manifests(p_tenant uuid, p_objects uuid[], p_counts int[], p_ids bytea[], p_offsets bigint[], p_lengths int[],
                                       p_skips int[], p_cached_counts int[], p_cached_ids bytea[], p_cached_offsets bigint[])
        RETURNS text[] LANGUAGE plpgsql AS $$
      DECLARE
        present bytea[];
        outcomes text[] := '{}';
        first int := 1;
        cached_first int := 1;
        n int;
        m int;
      BEGIN
        IF coalesce(array_length(p_objects, 1), 0) <> coalesce(array_length(p_counts, 1), 0)
           OR coalesce(array_length(p_objects, 1), 0) <> coalesce(array_length(p_cached_counts, 1), 0) THEN
          RAISE EXCEPTION 'commit_manifests: % objects, % counts, % cached counts',
            array_length(p_objects, 1), array_length(p_counts, 1), array_length(p_cached_counts, 1);
        END IF;
        SELECT coalesce(array_agg(l.id), '{}') INTO present FROM (
          SELECT c.id FROM chunks c WHERE c.tenant_id = p_tenant AND c.id = ANY (p_ids) ORDER BY c.id FOR NO KEY UPDATE) l;
        FOR i IN 1 .. coalesce(array_length(p_objects, 1), 0) LOOP
          n := p_counts[i];
          m := p_cached_counts[i];
          IF NOT (p_ids[first:first + n - 1] <@ present) THEN
            outcomes := outcomes || 'chunk-gone'::text;
          ELSIF commit_manifest(p_tenant, p_objects[i], p_ids[first:first + n - 1], p_offsets[first:first + n - 1],
                                p_lengths[first:first + n - 1], p_skips[first:first + n - 1],
                                p_cached_ids[cached_first:cached_first + m - 1], p_cached_offsets[cached_first:cached_first + m - 1]) THEN
            outcomes := outcomes || 'stored'::text;
          ELSE
            outcomes := outcomes || 'object-gone'::text;
          END IF;
          first := first + n;
          cached_first := cached_first + m;
        END LOOP;
        IF first - 1 <> coalesce(array_length(p_ids, 1), 0) OR cached_first - 1 <> coalesce(array_length(p_cached_ids, 1), 0) THEN
          RAISE EXCEPTION 'commit_manifests: the counts do not add up to the chunk arrays';
        END IF;
        RETURN outcomes;
      END $$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP FUNCTION commit_manifests(uuid, uuid[], int[], bytea[], bigint[], int[], int[], int[], bytea[], bigint[])`);
  }
}
