import { Module } from '@nestjs/common';
import { FERRY_CONFIG, type ResolvedConfig } from '@ferry/config';
import { createLogger } from '@ferry/common';
import { BlobStore } from './blob.store.js';
import { Spool } from './spool.js';

@Module({
  providers: [
    {
      provide: BlobStore,
      inject: [FERRY_CONFIG],
      useFactory: (config: ResolvedConfig) => new BlobStore(config.azureConnectionString.reveal(), { logger: createLogger('blob-store', config.logLevel) }),
    },
    { provide: Spool, inject: [FERRY_CONFIG], useFactory: (config: ResolvedConfig) => new Spool(config.spoolDir) },
  ],
  exports: [BlobStore, Spool],
})
export class StorageModule {}
