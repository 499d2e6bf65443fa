import { createServer, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerOptions } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import { tlsOptions, type ResolvedConfig } from '@ferry/config';
import { createLogger, FerryErrorCode, PinoNestLogger, type Logger } from '@ferry/common';
import { errorXml } from '@ferry/s3';
import { GatewayModule } from './gateway.module.js';
import { GATEWAY_LOGGER } from './gateway.tokens.js';
import { S3Dispatcher } from './s3/s3.dispatcher.js';
import { newRequestId } from './s3/responder.js';
import { s3Error } from './s3/s3-errors.js';

const SOCKET_IDLE_MS = 120_000;

export interface GatewayServer {
  app: NestExpressApplication;
  server: Server;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

/**
 * The S3 gateway (HTTPS when FERRY_TLS_CERT/KEY are set). Its server is built here rather than by Nest so that the header limit sits
 * above S3's (we answer oversized headers in XML ourselves) and long uploads are never cut by
 * Node's default request timeout. No body parser is installed: S3 bodies stream to the spool.
 *
 * Only the health check goes through Express and Nest's routing. Every other request is S3's and
 * goes straight to the S3 dispatcher, which routes by itself: on a GET of a 1 MiB object from the
 * spool cache, Express's router and Nest's middleware layers were about a tenth of the gateway's
 * main-thread CPU.
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
  const options: ServerOptions = { maxHeaderSize: 64 * 1024, requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 65_000 };
  const tls = tlsOptions(config);
  const listener = s3First(instance, app.get(S3Dispatcher), app.get<Logger>(GATEWAY_LOGGER));
  const server: Server = tls ? createTlsServer({ ...options, ...tls }, listener) : createServer(options, listener);
  // A client that stops sending mid-body for two minutes loses its connection; the request then
  // fails as an incomplete body and its spool file is removed. Long uploads that keep moving are never cut.
  server.setTimeout(SOCKET_IDLE_MS);
  server.on('clientError', answerParserError);
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

/** GET /healthz to Express (the catalog's health controller), everything else to the S3 dispatcher. */
function s3First(nest: RequestListener, dispatcher: S3Dispatcher, logger: Logger): RequestListener {
  return (req, res) => {
    if (isHealthCheck(req)) {
      nest(req, res);
      return;
    }
    // the dispatcher answers every failure itself; this is for a fault in that answer
    dispatcher.handle(req, res).catch((error: unknown) => {
      logger.error({ err: error }, 'S3 request failed outside the dispatcher');
      res.destroy();
    });
  };
}

/** The path Express's router matched for the health controller (not strict: a trailing slash too), any query. */
function isHealthCheck(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const url = req.url ?? '';
  const end = url.indexOf('?');
  const path = end === -1 ? url : url.slice(0, end);
  return path === '/healthz' || path === '/healthz/';
}

/**
 * Requests Node's HTTP parser rejects before any handler runs (headers past its limit, a body cut
 * short by a half-closed connection, garbage) still get an S3 XML error, then the connection closes.
 */
function answerParserError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [FerryErrorCode.HeadersTooLarge, 'Your request header section exceeds the maximum allowed size.']
      : error.code === 'HPE_INVALID_EOF_STATE'
        ? [FerryErrorCode.IncompleteBody, 'You did not provide the number of bytes specified by the Content-Length HTTP header.']
        : [FerryErrorCode.InvalidRequest, 'The request could not be parsed as HTTP.'];
  const shape = s3Error(code);
  const requestId = newRequestId();
  const xml = errorXml(shape.code, message, undefined, requestId);
  socket.end(
    `HTTP/1.1 ${shape.status} ${STATUS_CODES[shape.status]}\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(xml)}\r\n` +
      `x-amz-request-id: ${requestId}\r\nConnection: close\r\n\r\n${xml}`,
  );
}
