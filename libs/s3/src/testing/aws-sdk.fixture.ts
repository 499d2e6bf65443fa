/**
 * Test-only: drives the real AWS SDK (signer and S3 client) and hands back exactly what it would
 * have put on the wire, so the verifier is checked against the reference implementation rather
 * than against itself. Not exported from the library's index.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client } from '@aws-sdk/client-s3';
import { buildQueryString, HttpResponse, type HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';
import type { QueryParameterBag } from '@smithy/types';
import type { SigV4Request } from '../auth/sigv4.js';

export const ACCESS_KEY_ID = 'AKIAFERRYTEST0000001';
export const SECRET = 'ferry/Secret+Key with spaces==';

/** The SDK's sha256 constructor contract, on node:crypto. */
export class Sha256 {
  private hash: Hash | Hmac;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret =
      secret === undefined || typeof secret === 'string'
        ? secret
        : ArrayBuffer.isView(secret)
          ? new Uint8Array(secret.buffer, secret.byteOffset, secret.byteLength)
          : new Uint8Array(secret);
    this.hash = this.fresh();
  }
  update(data: Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

/** A signer configured as the S3 client configures it: no double-encoding of the path. */
export function s3Signer(secret = SECRET, region = 'us-east-1'): SignatureV4 {
  return new SignatureV4({
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: secret },
    region,
    service: 's3',
    sha256: Sha256,
    uriEscapePath: false,
  });
}

/** A request as a server receives it: the request target as sent and lowercase headers. */
export interface WireRequest extends SigV4Request {
  headers: Record<string, string>;
}

/** What a server receives for an SDK request. */
export function onTheWire(request: {
  method: string;
  path: string;
  query?: QueryParameterBag;
  headers: Record<string, string>;
}): WireRequest {
  const query = buildQueryString(request.query ?? {});
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) headers[name.toLowerCase()] = value;
  return { method: request.method, rawUrl: query ? `${request.path}?${query}` : request.path, headers };
}

export interface Captured {
  request: WireRequest;
  body: Buffer;
}

/**
 * An S3 client whose transport records each request (and drains its body) instead of sending it,
 * answering 200 with an empty body. Operations that expect a document may then fail to parse the
 * answer; callers ignore that, the captured request is what matters.
 */
export function capturingClient(): { client: S3Client; captured: Captured[] } {
  const captured: Captured[] = [];
  const requestHandler = {
    async handle(request: HttpRequest) {
      const body = await drain(request.body);
      captured.push({ request: onTheWire(request), body });
      return {
        response: new HttpResponse({
          statusCode: 200,
          headers: { etag: '"0"' },
          body: Readable.from([Buffer.alloc(0)]),
        }),
      };
    },
    updateHttpClientConfig(): void {},
    httpHandlerConfigs: () => ({}),
  };
  const client = new S3Client({
    region: 'us-east-1',
    endpoint: 'http://ferry.test:9000',
    forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY_ID, secretAccessKey: SECRET },
    maxAttempts: 1,
    requestHandler,
  });
  return { client, captured };
}

async function drain(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body);
  const parts: Buffer[] = [];
  for await (const part of body as AsyncIterable<Uint8Array | string>) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}
