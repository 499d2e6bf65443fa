import { NestFactory } from '@nestjs/core';
import { Transport, type MicroserviceOptions } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import type { ResolvedConfig } from '@ferry/config';
import { createLogger, PinoNestLogger } from '@ferry/common';
import { redisConnection } from '@ferry/queue';
import { LedgerModule } from './ledger.module.js';

/** Ledger transport options, shared by the service and its clients (gateway, console). */
export function ledgerTransport(config: ResolvedConfig): MicroserviceOptions {
  const redis = redisConnection(config.redisUrl.reveal());
  return {
    transport: Transport.REDIS,
    options: { host: redis.host, port: redis.port, username: redis.username, password: redis.password, db: redis.db } as never,
  };
}

export async function createLedger(config: ResolvedConfig): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(LedgerModule.forRoot(config), {
    ...ledgerTransport(config),
    logger: new PinoNestLogger(createLogger('ledger', config.logLevel)),
  });
  app.enableShutdownHooks();
  return app;
}
