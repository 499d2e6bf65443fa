import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { runMigrations } from '@ferry/catalog';

/** The Postgres server tests run against (CI's and the developer machines': trust auth). */
export const TEST_PG_ROOT = 'postgres://postgres@127.0.0.1:5432';
export const TEMPLATE_DB = 'ferry_test_template';

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${TEST_PG_ROOT}/postgres` });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Builds the migrated template once per run (immich's trick): each test file then clones it in ms. */
export async function prepareTemplateDatabase(): Promise<void> {
  await admin(async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  });
  await runMigrations(`${TEST_PG_ROOT}/${TEMPLATE_DB}`);
}

/** A fresh, migrated database for one test file; dropped by the returned function. */
export async function freshDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `ferry_t_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`));
  return {
    url: `${TEST_PG_ROOT}/${name}`,
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
