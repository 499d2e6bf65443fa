import { inject } from 'vitest';
import { readFileSync } from 'node:fs';
import { Agent, request as httpRequest } from 'node:http';
import { Agent as TlsAgent, request as httpsRequest } from 'node:https';
import { ListObjectsV2Command, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { INestApplicationContext } from '@nestjs/common';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { schemeOf, type ResolvedConfig } from '@ferry/config';
import { freshDatabase, removeTestData, testConfig } from '@ferry/testing';
import { createConsoleApp } from '../../apps/console/src/console.app.js';
import { createGateway, type GatewayServer } from '../../apps/gateway/src/gateway.app.js';
import { createLedger, type LedgerServer } from '../../apps/ledger/src/ledger.app.js';
import { createWorker } from '../../apps/worker/src/worker.app.js';
import { flushQueueKeys } from './faults.js';

export interface TenantSession {
  id: string;
  name: string;
  accessKeyId: string;
  secretAccessKey: string;
  s3: S3Client;
}

/** A whole Ferry in this process: console, gateway and (optionally) worker on a fresh database. */
export class FerryUnderTest {
  worker?: INestApplicationContext;
  ledger?: LedgerServer;
  private constructor(
    readonly config: ResolvedConfig,
    readonly console: NestExpressApplication,
    readonly gateway: GatewayServer,
    readonly s3Endpoint: string,
    readonly consoleUrl: string,
    private readonly dropDb: () => Promise<void>,
  ) {}

  static async start(options: { worker?: boolean; env?: Record<string, string> } = {}): Promise<FerryUnderTest> {
    const db = await freshDatabase();
    const config = await testConfig(db.url, inject('azurite'), options.env);
    const ledger = await createLedger(config);
    // the ledger binds a free port; gateway and console are then built to call it there
    config.ledger.port = await ledger.listen();
    const consoleApp = await createConsoleApp(config);
    await consoleApp.listen(0, '127.0.0.1');
    const consolePort = (consoleApp.getHttpServer().address() as { port: number }).port;
    const gateway = await createGateway(config);
    const s3Port = await gateway.listen(0, '127.0.0.1');
    const scheme = schemeOf(config);
    const ferry = new FerryUnderTest(config, consoleApp, gateway, `${scheme}://127.0.0.1:${s3Port}`, `${scheme}://127.0.0.1:${consolePort}`, db.drop);
    ferry.ledger = ledger;
    if (options.worker ?? true) await ferry.startWorker();
    return ferry;
  }

  async startWorker(): Promise<void> {
    this.worker = await createWorker(this.config);
    await this.worker.init();
  }

  /** Stops the ledger (gateway writes then answer 503 SlowDown). */
  async stopLedger(): Promise<void> {
    await this.ledger?.close();
    this.ledger = undefined;
  }

  /** Starts the ledger again on the port the gateway and console call. */
  async startLedger(): Promise<void> {
    this.ledger = await createLedger(this.config);
    await this.ledger.listen();
  }

  async stopWorker(): Promise<void> {
    await this.worker?.close();
    this.worker = undefined;
  }

  /** The test CA: the certificate itself, when the servers speak TLS. */
  get ca(): Buffer | undefined {
    return this.config.tls ? readFileSync(this.config.tls.certFile) : undefined;
  }

  async admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const url = new URL(`${this.consoleUrl}${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const request = send(
        url,
        {
          method,
          ca: this.ca,
          headers: {
            Authorization: `Bearer ${this.config.adminToken.reveal()}`,
            'Content-Type': 'application/json',
            ...(payload === undefined ? {} : { 'Content-Length': Buffer.byteLength(payload) }),
          },
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
        },
      );
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** Creates a tenant through the admin API and an S3 client signed with its first key. */
  async tenant(name: string, quotaBytes = 10 * 1024 ** 3): Promise<TenantSession> {
    const created = await this.admin('POST', '/admin/v1/tenants', { name, quotaBytes });
    if (created.status !== 201) throw new Error(`tenant creation failed: ${JSON.stringify(created.body)}`);
    const { id, accessKeyId, secretAccessKey } = created.body;
    return { id, name, accessKeyId, secretAccessKey, s3: this.client(accessKeyId, secretAccessKey) };
  }

  client(accessKeyId: string, secretAccessKey: string, options: { virtualHost?: boolean } = {}): S3Client {
    return new S3Client({
      endpoint: options.virtualHost ? this.s3Endpoint.replace('127.0.0.1', 'localhost') : this.s3Endpoint,
      region: 'us-east-1',
      forcePathStyle: !options.virtualHost,
      credentials: { accessKeyId, secretAccessKey },
      maxAttempts: 1,
      // <bucket>.localhost must reach this machine whatever the resolver thinks of it; a TLS gateway
      // is trusted through its own certificate
      requestHandler:
        options.virtualHost || this.config.tls
          ? new NodeHttpHandler({ httpAgent: loopbackAgent, httpsAgent: new TlsAgent({ keepAlive: true, ca: this.ca, lookup: loopbackLookup }) })
          : undefined,
    });
  }

  async stop(): Promise<void> {
    await this.stopWorker();
    await this.gateway.close();
    await this.console.close();
    await this.stopLedger();
    await this.dropDb();
    // the Redis server outlives the run (CI's and developers' alike): leave none of this run's jobs
    await flushQueueKeys(this.config);
    await removeTestData(this.config);
  }
}

const loopbackLookup: NonNullable<ConstructorParameters<typeof Agent>[0]>['lookup'] = (_host, options, callback) => {
  if ((options as { all?: boolean }).all) (callback as (error: null, addresses: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
};
const loopbackAgent = new Agent({ keepAlive: true, lookup: loopbackLookup });

/** Polls until `check` holds or the timeout passes; returns whether it held. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return check();
}

export interface S3Failure {
  name: string;
  status?: number;
}

/** The S3 error a request ends in; throws if it succeeds or fails otherwise. */
export async function s3Failure(promise: Promise<unknown>): Promise<S3Failure> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return { name: error.name, status: error.$metadata.httpStatusCode };
    throw error;
  }
  throw new Error('expected the request to fail');
}

/** Every key under a prefix, through ListObjectsV2 pages, sorted. */
export async function listKeys(s3: S3Client, bucket: string, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    keys.push(...(page.Contents ?? []).map((object) => object.Key!));
    token = page.NextContinuationToken;
  } while (token);
  return keys.sort();
}

/**
 * A usage response saying every acknowledged byte is in Blob (nothing pending in the spool) and the
 * tenant keeps `logicalBytes` (exactly, or at least).
 */
export function allStored(response: { status: number; body: any }, logicalBytes: number, match: 'exactly' | 'at least' = 'exactly'): boolean {
  const usage = response.body as { logicalBytes: number; pendingBytes: number; storedBytes: number };
  const logical = match === 'exactly' ? usage.logicalBytes === logicalBytes : usage.logicalBytes >= logicalBytes;
  return response.status === 200 && logical && usage.pendingBytes === 0 && usage.storedBytes > 0;
}
