import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Where a chunk's plaintext can be read locally: the object whose spool files (the recovery cache)
 * last brought the chunk, and the chunk's offset in that object. Set when that object's manifest is
 * committed. No foreign key and no clearing: a read joins the object and uses the place only while
 * the object still lists spool files, and checks the bytes against the chunk id before using them.
 */
export class ChunkCache1764400000000 implements MigrationInterface {
  name = 'ChunkCache1764400000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE chunks ADD COLUMN cached_in uuid, ADD COLUMN cached_at bigint`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE chunks DROP COLUMN cached_in, DROP COLUMN cached_at`);
  }
}
