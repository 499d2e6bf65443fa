import { availableParallelism } from 'node:os';
import { Module, type DynamicModule } from '@nestjs/common';
import { FerryConfigModule, type ResolvedConfig } from '@ferry/config';
import { CatalogHealthController, CatalogModule } from '@ferry/catalog';
import { createLogger, type Logger } from '@ferry/common';
import { QueueModule } from '@ferry/queue';
import { HashPool } from '@ferry/s3';
import { StorageModule } from '@ferry/storage';
import { GATEWAY_LOGGER } from './gateway.tokens.js';
import { IngestService } from './ingest/ingest.service.js';
import { LedgerClient } from '@ferry/ledger-contracts';
import { QuotaReservations } from './quota/reservations.js';
import { UsageMeter } from './metering/usage.meter.js';
import { TenantThrottle } from './throttle/tenant-throttle.js';
import { ObjectCommitter } from './ingest/object-committer.js';
import { BucketOperations } from './operations/bucket.operations.js';
import { CopyObjectOperation } from './operations/copy-object.operation.js';
import { MultipartOperations } from './operations/multipart.operations.js';
import { DeleteObjectsOperation } from './operations/delete-objects.operation.js';
import { ListOperations } from './operations/list.operations.js';
import { ObjectOperations } from './operations/object.operations.js';
import { ObjectReader } from './read/object-reader.js';
import { PackedReader } from './read/packed-reader.js';
import { PackFetcher } from './read/pack.fetcher.js';
import { ReadSlabs } from './read/read.slabs.js';
import { PackingPool, TenantKeyring } from '@ferry/packing';
import { Authenticator } from './s3/authenticator.js';
import { S3Dispatcher } from './s3/s3.dispatcher.js';
import { SosapiOperations } from './sosapi/sosapi.operations.js';

@Module({})
export class GatewayModule {
  static forRoot(config: ResolvedConfig): DynamicModule {
    return {
      module: GatewayModule,
      imports: [FerryConfigModule.forRoot(config), CatalogModule, StorageModule, QueueModule],
      controllers: [CatalogHealthController],
      providers: [
        { provide: GATEWAY_LOGGER, useValue: createLogger('gateway', config.logLevel) },
        Authenticator,
        // MD5 and SHA of request bodies run here, beside the event loop that moves the bytes
        {
          provide: HashPool,
          inject: [GATEWAY_LOGGER],
          useFactory: (logger: Logger) => {
            const pool = new HashPool(Math.max(1, Math.min(4, availableParallelism())));
            if (pool.md5Engine === 'openssl') logger.warn('the multi-buffer MD5 addon did not build at install: ETags are hashed one body at a time');
            return pool;
          },
        },
        LedgerClient,
        QuotaReservations,
        UsageMeter,
        TenantThrottle,
        IngestService,
        ObjectCommitter,
        ObjectReader,
        PackedReader,
        PackFetcher,
        ReadSlabs,
        // reads of packs are authenticated, decrypted and decompressed in these threads
        { provide: PackingPool, useFactory: () => PackingPool.start(config.packing.threads) },
        TenantKeyring,
        BucketOperations,
        ListOperations,
        ObjectOperations,
        DeleteObjectsOperation,
        CopyObjectOperation,
        MultipartOperations,
        SosapiOperations,
        S3Dispatcher,
      ],
    };
  }
}
