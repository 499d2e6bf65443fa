import { applyMigrations } from '@ferry/catalog';
import { QuotaReservations1764300000000 } from './migrations/1764300000000-quota-reservations.js';
import { Metering1764300000001 } from './migrations/1764300000001-metering.js';
import { Billing1764300000002 } from './migrations/1764300000002-billing.js';
import { TenantLimits1764300000003 } from './migrations/1764300000003-tenant-limits.js';

export const LEDGER_MIGRATIONS = [QuotaReservations1764300000000, Metering1764300000001, Billing1764300000002, TenantLimits1764300000003];

const LEDGER_MIGRATION_LOCK = 0x6c656467; // 'ledg'

/**
 * The ledger migrates its own tables (recorded in `ledger_migrations`, apart from the catalog's) when
 * it starts. It runs after the catalog's migrations: its functions read the catalog's tenants and
 * usage counter.
 */
export function runLedgerMigrations(databaseUrl: string): Promise<string[]> {
  return applyMigrations(databaseUrl, { migrations: LEDGER_MIGRATIONS, tableName: 'ledger_migrations', lockKey: LEDGER_MIGRATION_LOCK });
}
