import { DataSource } from 'typeorm';
import { QuotaReservations1764300000000 } from './migrations/1764300000000-quota-reservations.js';
import { Metering1764300000001 } from './migrations/1764300000001-metering.js';
import { Billing1764300000002 } from './migrations/1764300000002-billing.js';
import { TenantLimits1764300000003 } from './migrations/1764300000003-tenant-limits.js';

export const LEDGER_MIGRATIONS = [QuotaReservations1764300000000, Metering1764300000001, Billing1764300000002, TenantLimits1764300000003];

const LEDGER_MIGRATION_LOCK = 0x6c656467; // 'ledg'

/**
 * The ledger migrates its own tables (recorded in `ledger_migrations`, apart from the catalog's) when
 * it starts, under an advisory lock so several ledger processes migrate once. It runs after the
 * catalog's migrations: its functions read the catalog's tenants and usage counter.
 */
export async function runLedgerMigrations(databaseUrl: string): Promise<string[]> {
  const dataSource = new DataSource({
    type: 'postgres',
    url: databaseUrl,
    migrations: LEDGER_MIGRATIONS,
    migrationsTableName: 'ledger_migrations',
    extra: { max: 2 },
  });
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [LEDGER_MIGRATION_LOCK]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    await lock.query('SELECT pg_advisory_unlock($1)', [LEDGER_MIGRATION_LOCK]);
    return applied.map((migration) => migration.name);
  } finally {
    await lock.release();
    await dataSource.destroy();
  }
}
