import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import type { ResolvedConfig } from '@ferry/config';
import { createLogger, PinoNestLogger } from '@ferry/common';
import { GatewayModule } from './gateway.module.js';

const SOCKET_IDLE_MS = 120_000;

export interface GatewayServer {
  app: NestExpressApplication;
  server: Server;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * The S3 gateway. Its HTTP server is built here rather than by Nest so that the header limit sits
 * above S3's (we answer oversized headers in XML ourselves) and long uploads are never cut by
 * Node's default request timeout. No body parser is installed: S3 bodies stream to the spool.
 */
export async function createGateway(config: ResolvedConfig): Promise<GatewayServer> {
  const instance = express();
  instance.disable('x-powered-by');
  instance.set('etag', false);
  const app = await NestFactory.create<NestExpressApplication>(GatewayModule.forRoot(config), new ExpressAdapter(instance), {
    bodyParser: false,
    logger: new PinoNestLogger(createLogger('gateway', config.logLevel)),
  });
  await app.init();
  const server = createServer({ maxHeaderSize: 64 * 1024, requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 }, instance);
  // A client that stops sending mid-body for two minutes loses its connection; the request then
  // fails as an incomplete body and its spool file is removed. Long uploads that keep moving are never cut.
  server.setTimeout(SOCKET_IDLE_MS);
  return {
    app,
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
      }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await app.close();
    },
  };
}
