import { DataSource, type DataSourceOptions } from 'typeorm';
import { AccessKeyEntity } from './entities/access-key.entity.js';
import { BucketEntity } from './entities/bucket.entity.js';
import { GarbageEntity } from './entities/garbage.entity.js';
import { MultipartPartEntity, MultipartUploadEntity } from './entities/multipart-upload.entity.js';
import { ObjectVersionEntity } from './entities/object-version.entity.js';
import { TenantEntity } from './entities/tenant.entity.js';
import { InitialCatalog1764000000000 } from './migrations/1764000000000-initial-catalog.js';
import { Packing1764100000000 } from './migrations/1764100000000-packing.js';
import { UsageCounter1764200000000 } from './migrations/1764200000000-usage-counter.js';
import { TenantAccess1764200000001 } from './migrations/1764200000001-tenant-access.js';
import { OrderedRefs1764200000002 } from './migrations/1764200000002-ordered-refs.js';
import { ChunkCache1764400000000 } from './migrations/1764400000000-chunk-cache.js';
import { CommitManifest1764500000000 } from './migrations/1764500000000-commit-manifest.js';
import { UsageUpdateRow1764600000000 } from './migrations/1764600000000-usage-update-row.js';
import { CommitManifests1764700000000 } from './migrations/1764700000000-commit-manifests.js';

export const CATALOG_ENTITIES = [
  TenantEntity,
  AccessKeyEntity,
  BucketEntity,
  ObjectVersionEntity,
  MultipartUploadEntity,
  MultipartPartEntity,
  GarbageEntity,
];
export const CATALOG_MIGRATIONS = [InitialCatalog1764000000000, Packing1764100000000, UsageCounter1764200000000, TenantAccess1764200000001, OrderedRefs1764200000002, ChunkCache1764400000000, CommitManifest1764500000000, UsageUpdateRow1764600000000, CommitManifests1764700000000];

export function catalogDataSourceOptions(databaseUrl: string, poolSize = 10): DataSourceOptions {
  return {
    type: 'postgres',
    url: databaseUrl,
    entities: CATALOG_ENTITIES,
    migrations: CATALOG_MIGRATIONS,
    migrationsRun: false,
    synchronize: false,
    extra: { max: poolSize },
  };
}

const MIGRATION_LOCK = 0x66657272; // 'ferr'

/** The catalog's migrations (recorded in the default `migrations` table). */
export function runMigrations(databaseUrl: string): Promise<string[]> {
  return applyMigrations(databaseUrl, { migrations: CATALOG_MIGRATIONS, tableName: 'migrations', lockKey: MIGRATION_LOCK });
}

/**
 * Applies a set of pending migrations, recorded in its own table. Holds an advisory lock meanwhile,
 * so several processes starting at once (gateway nodes, workers, ledgers) migrate exactly once.
 */
export async function applyMigrations(
  databaseUrl: string,
  set: { migrations: DataSourceOptions['migrations']; tableName: string; lockKey: number },
): Promise<string[]> {
  const dataSource = new DataSource({ type: 'postgres', url: databaseUrl, migrations: set.migrations, migrationsTableName: set.tableName, extra: { max: 2 } });
  await dataSource.initialize();
  const lock = dataSource.createQueryRunner();
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock($1)', [set.lockKey]);
    const applied = await dataSource.runMigrations({ transaction: 'each' });
    await lock.query('SELECT pg_advisory_unlock($1)', [set.lockKey]);
    return applied.map((migration) => migration.name);
  } finally {
    await lock.release();
    await dataSource.destroy();
  }
}
