import type { AddressInfo, Server } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { Transport, type MicroserviceOptions } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import type { ResolvedConfig } from '@ferry/config';
import { createLogger, PinoNestLogger } from '@ferry/common';
import { runLedgerMigrations } from './ledger.migrations.js';
import { LedgerModule } from './ledger.module.js';

/**
 * The ledger listens on TCP (FERRY_LEDGER_HOST:FERRY_LEDGER_PORT). TCP rather than Redis pub/sub:
 * a request reaches exactly the ledger it was addressed to, and a ledger that is down is known at
 * once (connection refused) instead of after a timeout.
 */
export function ledgerTransport(config: ResolvedConfig): MicroserviceOptions {
  return { transport: Transport.TCP, options: { host: config.ledger.host, port: config.ledger.port } };
}

export interface LedgerServer {
  app: INestMicroservice;
  /** Listens; resolves to the bound port (FERRY_LEDGER_PORT=0 picks a free one). */
  listen(): Promise<number>;
  close(): Promise<void>;
}

export async function createLedger(config: ResolvedConfig): Promise<LedgerServer> {
  await runLedgerMigrations(config.databaseUrl.reveal());
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(LedgerModule.forRoot(config), {
    ...ledgerTransport(config),
    logger: new PinoNestLogger(createLogger('ledger', config.logLevel)),
  });
  app.enableShutdownHooks();
  return {
    app,
    listen: async () => {
      await app.listen();
      return (app.unwrap<Server>().address() as AddressInfo).port;
    },
    close: () => app.close(),
  };
}
