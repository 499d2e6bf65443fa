import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { tlsOptions, type ResolvedConfig } from '@ferry/config';
import { createLogger, PinoNestLogger } from '@ferry/common';
import { ConsoleModule } from './console.module.js';
import { serveOpenApi } from './http/openapi.document.js';

/** Builds the console (operator API now, tenant portal later) without listening. */
export async function createConsoleApp(config: ResolvedConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(ConsoleModule.forRoot(config), {
    logger: new PinoNestLogger(createLogger('console', config.logLevel)),
    httpsOptions: tlsOptions(config),
  });
  app.disable('x-powered-by');
  app.useBodyParser('json', { limit: '64kb' });
  app.enableShutdownHooks();
  serveOpenApi(app);
  return app;
}
