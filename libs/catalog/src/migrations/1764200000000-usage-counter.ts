import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A running count of the bytes each tenant keeps: every object version that is not a delete marker
 * (staged or stored, all versions) and every part of an unfinished multipart upload. Triggers keep it
 * in the same transaction as the rows it counts, so it is exact at every commit; the ledger reads it
 * to decide quota reservations without summing millions of rows.
 */
export class UsageCounter1764200000000 implements MigrationInterface {
  name = 'UsageCounter1764200000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE tenant_usage (
        tenant_id uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
        kept_bytes bigint NOT NULL DEFAULT 0 CHECK (kept_bytes >= 0),
        objects bigint NOT NULL DEFAULT 0 CHECK (objects >= 0),
        part_bytes bigint NOT NULL DEFAULT 0 CHECK (part_bytes >= 0)
      )`);
    await db.query(`
      CREATE FUNCTION tenants_usage_row() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO tenant_usage (tenant_id) SELECT id FROM added ON CONFLICT DO NOTHING;
        RETURN NULL;
      END $$`);
    await db.query(`
      CREATE TRIGGER tenants_usage_row AFTER INSERT ON tenants
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION tenants_usage_row()`);

    // One function per table and event; each folds its transition table into per-tenant deltas, so a
    // statement touching many rows updates each counter row once. Rows of a tenant being deleted find
    // no counter row (it cascades first or after) and change nothing.
    const objectDelta = (sign: '+' | '-', table: string) => `
        SELECT tenant_id, ${sign}sum(size) AS bytes, ${sign}count(*) AS n FROM ${table} WHERE NOT is_delete_marker GROUP BY tenant_id`;
    const partDelta = (sign: '+' | '-', table: string) => `
        SELECT tenant_id, ${sign}sum(size) AS bytes, ${sign}count(*) AS n FROM ${table} GROUP BY tenant_id`;
    const apply = (deltas: string, parts: boolean) => `
        UPDATE tenant_usage u
           SET kept_bytes = u.kept_bytes + d.bytes,
               ${parts ? 'part_bytes = u.part_bytes + d.bytes' : 'objects = u.objects + d.n'}
          FROM (SELECT tenant_id, sum(bytes)::bigint AS bytes, sum(n)::bigint AS n FROM (${deltas}) x GROUP BY tenant_id) d
         WHERE u.tenant_id = d.tenant_id AND (d.bytes <> 0 OR d.n <> 0);`;
    const triggers: [string, string, string, string][] = [
      ['objects', 'INSERT', 'NEW TABLE AS added', apply(objectDelta('+', 'added'), false)],
      ['objects', 'DELETE', 'OLD TABLE AS removed', apply(objectDelta('-', 'removed'), false)],
      [
        'objects',
        'UPDATE',
        'OLD TABLE AS removed NEW TABLE AS added',
        apply(`${objectDelta('+', 'added')} UNION ALL ${objectDelta('-', 'removed')}`, false),
      ],
      ['multipart_parts', 'INSERT', 'NEW TABLE AS added', apply(partDelta('+', 'added'), true)],
      ['multipart_parts', 'DELETE', 'OLD TABLE AS removed', apply(partDelta('-', 'removed'), true)],
      [
        'multipart_parts',
        'UPDATE',
        'OLD TABLE AS removed NEW TABLE AS added',
        apply(`${partDelta('+', 'added')} UNION ALL ${partDelta('-', 'removed')}`, true),
      ],
    ];
    for (const [table, event, transition, body] of triggers) {
      const name = `${table}_usage_${event.toLowerCase()}`;
      await db.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} RETURN NULL; END $$`);
      await db.query(`CREATE TRIGGER ${name} AFTER ${event} ON ${table} REFERENCING ${transition} FOR EACH STATEMENT EXECUTE FUNCTION ${name}()`);
    }

    await db.query(`
      INSERT INTO tenant_usage (tenant_id, kept_bytes, objects, part_bytes)
      SELECT t.id,
             coalesce(o.bytes, 0) + coalesce(p.bytes, 0),
             coalesce(o.n, 0),
             coalesce(p.bytes, 0)
        FROM tenants t
        LEFT JOIN (SELECT tenant_id, sum(size) AS bytes, count(*) AS n FROM objects WHERE NOT is_delete_marker GROUP BY tenant_id) o
          ON o.tenant_id = t.id
        LEFT JOIN (SELECT tenant_id, sum(size) AS bytes FROM multipart_parts GROUP BY tenant_id) p ON p.tenant_id = t.id`);
  }

  async down(db: QueryRunner): Promise<void> {
    for (const table of ['objects', 'multipart_parts']) {
      for (const event of ['insert', 'delete', 'update']) {
        await db.query(`DROP TRIGGER IF EXISTS ${table}_usage_${event} ON ${table}`);
        await db.query(`DROP FUNCTION IF EXISTS ${table}_usage_${event}()`);
      }
    }
    await db.query(`DROP TRIGGER IF EXISTS tenants_usage_row ON tenants`);
    await db.query(`DROP FUNCTION IF EXISTS tenants_usage_row()`);
    await db.query(`DROP TABLE IF EXISTS tenant_usage`);
  }
}
