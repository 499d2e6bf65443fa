import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import type { ResolvedConfig } from '@ferry/config';
import { createLogger, PinoNestLogger } from '@ferry/common';
import { WorkerModule } from './worker.module.js';

/** The worker pool: no HTTP server, just BullMQ workers (twenty's queue-worker shape). */
export async function createWorker(config: ResolvedConfig): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config), {
    logger: new PinoNestLogger(createLogger('worker', config.logLevel)),
  });
  app.enableShutdownHooks();
  return app;
}
