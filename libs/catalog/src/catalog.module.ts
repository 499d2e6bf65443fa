import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { catalogDataSourceOptions } from './data-source.js';
import { AccessKeysRepository } from './repositories/access-keys.repository.js';
import { BucketsRepository } from './repositories/buckets.repository.js';
import { GarbageRepository } from './repositories/garbage.repository.js';
import { ObjectsRepository } from './repositories/objects.repository.js';
import { TenantsRepository } from './repositories/tenants.repository.js';
import { UploadsRepository } from './repositories/uploads.repository.js';
import { ChunksRepository } from './repositories/chunks.repository.js';
import { PacksRepository } from './repositories/packs.repository.js';
import { CatalogEventsRepository } from './repositories/catalog-events.repository.js';
import { CatalogRestoreRepository } from './repositories/catalog-restore.repository.js';
import { VerifyRunsRepository } from './repositories/verify-runs.repository.js';
import { TenantKeysRepository } from './repositories/tenant-keys.repository.js';

const repositories = [TenantsRepository, AccessKeysRepository, BucketsRepository, ObjectsRepository, GarbageRepository, UploadsRepository, ChunksRepository, PacksRepository, TenantKeysRepository, CatalogEventsRepository, CatalogRestoreRepository, VerifyRunsRepository];

/** The catalog's connection and repositories. Migrations run before any app starts, never from here. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [FERRY_CONFIG],
      useFactory: (config: ResolvedConfig) => catalogDataSourceOptions(config.databaseUrl.reveal()),
    }),
  ],
  providers: repositories,
  exports: repositories,
})
export class CatalogModule {}
