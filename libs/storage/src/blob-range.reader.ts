import { connect as netConnect, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ContainerSASPermissions, type BlobServiceClient } from '@azure/storage-blob';
import type { Logger } from '@ferry/common';

/** A container SAS lives this long, and is made anew once less than half of it is left. */
const SAS_LIFETIME_MS = 2 * 3600_000;
/** Idle connections are closed after this, before Azurite's (5 s) or Azure's keep-alive timeout. */
const IDLE_MS = 3000;
const MAX_IDLE_PER_ORIGIN = 16;
/** A read that gets no byte for this long is given up here (and handed to the SDK, which retries). */
const STALL_MS = 30_000;
const HEAD_BYTES = 16 * 1024;
/** Reads handed back to the SDK are logged at most this often, with how many there were meanwhile. */
const WARN_EVERY_MS = 60_000;

/** How one attempt ended: done, or failed after or before (`failedUnanswered`) any byte of an answer arrived. */
type Outcome = 'done' | 'failed' | 'failedUnanswered';

/**
 * Ranged reads of blobs by plain HTTP/1.1 GETs, read by the socket straight into the caller's buffer.
 *
 * The gateway reads every pack range it restores from through here. Through the SDK
 * (`BlobClient.download`, on node:http) each 64 KiB a socket read brings is allocated, copied once
 * more by the HTTP parser into another new buffer, then copied into the destination, and the
 * garbage collector runs to free them: measured here reading 1 GiB in 8 MiB ranges from Azurite, 8 at
 * once, the SDK cost the reader 2.0–2.5 CPU-s and 45–55 full collections, node:http alone 1.9–2.4,
 * this 0.35 and none; a cold restore moves about 0.3 GiB of packs per GiB restored.
 *
 * Requests carry a read-only container SAS made by the SDK from the account key, renewed before it
 * expires. Without an account key (no SAS can be made), for an answer that is not exactly the range
 * asked for, and for any failure, `read` returns false and the caller reads through the SDK, which
 * retries and reports errors as it always has. A kept-alive connection the server closed meanwhile is
 * retried once on a new one.
 */
export class BlobRangeReader {
  private readonly sas = new Map<string, { query: string; version: string; renewAt: number }>();
  private readonly idle = new Map<string, RangeConnection[]>();
  private unavailable = false;
  /** Reads served here, and reads handed back to the caller (for tests and metrics). */
  served = 0;
  declined = 0;
  private declinedSinceWarning = 0;
  private lastWarning = 0;

  constructor(
    private readonly service: BlobServiceClient,
    private readonly options: {
      /** Extra CA certificates for an https endpoint (tests); the system's otherwise. */
      ca?: Buffer;
      /** Told, at most once a minute, of reads handed back to the SDK and why. */
      logger?: Logger;
    } = {},
  ) {}

  /** Fills `into` with `into.length` bytes of the blob from `offset`; false when it could not. */
  async read(container: string, blobName: string, offset: number, into: Buffer): Promise<boolean> {
    const sas = this.unavailable || into.length === 0 ? undefined : await this.sasFor(container);
    if (!sas) {
      this.declined++;
      return false;
    }
    const url = new URL(this.service.getContainerClient(container).getBlobClient(blobName).url);
    const request =
      `GET ${url.pathname}?${sas.query} HTTP/1.1\r\nHost: ${url.host}\r\nx-ms-version: ${sas.version}\r\n` +
      `Range: bytes=${offset}-${offset + into.length - 1}\r\n\r\n`;
    let why = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const reused = this.takeIdle(url.origin);
      const connection = reused ?? new RangeConnection(url, this.options.ca);
      const outcome = await connection.get(request, offset, into);
      if (outcome === 'done') {
        this.served++;
        this.keepIdle(url.origin, connection);
        return true;
      }
      why = connection.failure;
      if (!reused || outcome !== 'failedUnanswered') break;
    }
    this.declined++;
    this.warn(why, container, blobName);
    return false;
  }

  private warn(why: string, container: string, blobName: string): void {
    this.declinedSinceWarning++;
    if (!this.options.logger || Date.now() - this.lastWarning < WARN_EVERY_MS) return;
    this.options.logger.warn(
      { why, container, blob: blobName, reads: this.declinedSinceWarning },
      'ranged Blob reads handed to the SDK (the direct GET failed); they still complete, more slowly',
    );
    this.lastWarning = Date.now();
    this.declinedSinceWarning = 0;
  }

  /** Closes the idle connections. */
  close(): void {
    for (const connections of this.idle.values()) for (const connection of connections) connection.close();
    this.idle.clear();
  }

  private async sasFor(container: string): Promise<{ query: string; version: string } | undefined> {
    const known = this.sas.get(container);
    if (known && known.renewAt > Date.now()) return known;
    let url: URL;
    try {
      const now = Date.now();
      url = new URL(
        await this.service.getContainerClient(container).generateSasUrl({
          permissions: ContainerSASPermissions.parse('r'),
          startsOn: new Date(now - 5 * 60_000), // clock skew
          expiresOn: new Date(now + SAS_LIFETIME_MS),
        }),
      );
    } catch {
      // no account key in the connection string: every read goes through the SDK
      this.unavailable = true;
      this.options.logger?.info('no account key to make a SAS with: ranged Blob reads go through the SDK');
      return undefined;
    }
    const made = { query: url.search.slice(1), version: url.searchParams.get('sv') ?? '', renewAt: Date.now() + SAS_LIFETIME_MS / 2 };
    this.sas.set(container, made);
    return made;
  }

  private takeIdle(origin: string): RangeConnection | undefined {
    const connections = this.idle.get(origin);
    while (connections?.length) {
      const connection = connections.pop()!;
      if (connection.reusable) return connection;
    }
    return undefined;
  }

  private keepIdle(origin: string, connection: RangeConnection): void {
    if (!connection.reusable) return connection.close();
    const connections = this.idle.get(origin) ?? [];
    if (connections.length >= MAX_IDLE_PER_ORIGIN) return connection.close();
    connections.push(connection);
    this.idle.set(origin, connections);
    connection.idle(() => {
      const index = connections.indexOf(connection);
      if (index >= 0) connections.splice(index, 1);
    });
  }
}

/** The read in progress on a connection. */
interface Exchange {
  offset: number;
  into: Buffer;
  /** Body bytes in `into` so far; -1 until the headers are in. */
  filled: number;
  answered: boolean;
  settle: (outcome: Outcome) => void;
}

/** One keep-alive connection, one request at a time; the kernel reads the body into the caller's buffer. */
class RangeConnection {
  private readonly socket: Socket;
  private readonly connected: Promise<boolean>;
  private readonly head = Buffer.allocUnsafe(HEAD_BYTES);
  private headLength = 0;
  private exchange?: Exchange;
  private keepAlive = true;
  private idleTimer?: NodeJS.Timeout;
  /** Why the last read failed, for the log. */
  failure = '';
  private lastError?: Error;
  /** Told when the connection closes while idle (the pool forgets it). */
  private closedWhileIdle?: () => void;

  constructor(url: URL, ca?: Buffer) {
    const tls = url.protocol === 'https:';
    const port = Number(url.port) || (tls ? 443 : 80);
    const onread: OnReadOpts = { buffer: () => this.target(), callback: (length: number, buffer: Uint8Array) => (this.received(length, buffer), true) };
    // TLS sockets take onread too (Node's types do not say so); the plaintext lands in the buffer
    const servername = isIP(url.hostname) ? undefined : url.hostname;
    const secure: ConnectionOptions & { onread: OnReadOpts } = { host: url.hostname, port, servername, ca, onread };
    this.socket = tls ? tlsConnect(secure) : netConnect({ host: url.hostname, port, noDelay: true, onread });
    this.connected = new Promise((resolve) => {
      this.socket.once(tls ? 'secureConnect' : 'connect', () => resolve(true));
      this.socket.once('close', () => resolve(false));
    });
    this.socket.on('error', (error) => {
      this.lastError = error;
      this.socket.destroy();
    });
    this.socket.on('timeout', () => this.exchange && this.finish(`no byte for ${STALL_MS / 1000} s`));
    this.socket.on('close', () => {
      this.finish(this.lastError ? `connection failed: ${this.lastError.message}` : 'connection closed by the server');
      this.closedWhileIdle?.();
    });
  }

  get reusable(): boolean {
    return this.keepAlive && !this.socket.destroyed && !this.exchange;
  }

  async get(request: string, offset: number, into: Buffer): Promise<Outcome> {
    this.busy();
    if (!(await this.connected)) {
      this.failure = `could not connect: ${this.lastError?.message ?? 'closed'}`;
      return 'failedUnanswered';
    }
    return new Promise<Outcome>((settle) => {
      this.headLength = 0;
      this.exchange = { offset, into, filled: -1, answered: false, settle };
      this.socket.setTimeout(STALL_MS);
      this.socket.write(request);
    });
  }

  /** Waits unreferenced (it keeps no process alive) until used again, closed after IDLE_MS. */
  idle(onClose: () => void): void {
    this.closedWhileIdle = onClose;
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.close(), IDLE_MS).unref();
  }

  close(): void {
    this.keepAlive = false;
    this.socket.destroy();
  }

  private busy(): void {
    clearTimeout(this.idleTimer);
    this.closedWhileIdle = undefined;
    this.socket.ref();
  }

  /**
   * Where the next socket read goes: the rest of the body once the headers are in, else the header
   * buffer. Node asks right after each read, for the next one, which may come for the next request:
   * between requests it is the start of the header buffer, never a caller's buffer.
   */
  private target(): Uint8Array {
    const exchange = this.exchange;
    if (!exchange) return this.head;
    if (exchange.filled >= 0 && exchange.filled < exchange.into.length) return exchange.into.subarray(exchange.filled);
    return this.headLength < HEAD_BYTES ? this.head.subarray(this.headLength) : this.head;
  }

  /** `length` bytes read into `buffer` (what `target` gave); moved to where they belong if it was another place. */
  private received(length: number, buffer: Uint8Array): void {
    const exchange = this.exchange;
    const data = Buffer.from(buffer.buffer, buffer.byteOffset, length);
    if (!exchange || exchange.filled === exchange.into.length) {
      // bytes nobody asked for: the connection is in no known state
      this.finish('bytes with no request open');
      return;
    }
    exchange.answered = true;
    if (exchange.filled >= 0) {
      if (exchange.filled + length > exchange.into.length) {
        this.finish('more bytes than the range');
        return;
      }
      if (!sameBytes(data, exchange.into, exchange.filled)) exchange.into.set(data, exchange.filled);
      exchange.filled += length;
    } else {
      if (this.headLength + length > HEAD_BYTES) {
        this.finish(`headers over ${HEAD_BYTES} bytes`);
        return;
      }
      if (!sameBytes(data, this.head, this.headLength)) this.head.set(data, this.headLength);
      this.headLength += length;
      const end = this.head.subarray(0, this.headLength).indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headLength >= HEAD_BYTES) this.finish(`headers over ${HEAD_BYTES} bytes`);
        return;
      }
      const head = this.head.subarray(0, end).toString('latin1');
      this.keepAlive = !/\r\nconnection: *close\b/i.test(head);
      const refused = refuses(head, exchange);
      if (refused) {
        this.finish(refused);
        return;
      }
      const early = this.head.subarray(end + 4, this.headLength);
      if (early.length > exchange.into.length) {
        this.finish('more bytes than the range');
        return;
      }
      exchange.filled = early.copy(exchange.into);
    }
    if (exchange.filled === exchange.into.length) {
      this.exchange = undefined;
      this.headLength = 0;
      this.socket.setTimeout(0);
      exchange.settle('done');
    }
  }

  /** Ends the read in progress, if any, for `why`; a read that did not end well leaves the connection unusable. */
  private finish(why: string): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    if (exchange) this.failure = why;
    this.close();
    exchange?.settle(exchange.answered ? 'failed' : 'failedUnanswered');
  }
}

/** Why an answer is not exactly the range asked for (206, its Content-Length and its Content-Range); nothing when it is. */
function refuses(head: string, exchange: Exchange): string | undefined {
  const lines = head.split('\r\n');
  const header = (name: string) => lines.find((line) => line.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
  const last = exchange.offset + exchange.into.length - 1;
  const exact =
    /^HTTP\/1\.1 206 /.test(lines[0]) &&
    header('content-length') === String(exchange.into.length) &&
    (header('content-range') ?? '').startsWith(`bytes ${exchange.offset}-${last}/`) &&
    header('transfer-encoding') === undefined;
  if (exact) return undefined;
  return `answer "${lines[0]}" (content-length ${header('content-length') ?? 'none'}, content-range ${header('content-range') ?? 'none'}) for bytes ${exchange.offset}-${last}`;
}

/** Whether `data` already is `into`'s bytes from `at` (the read went where it was meant to). */
function sameBytes(data: Buffer, into: Buffer, at: number): boolean {
  return data.buffer === into.buffer && data.byteOffset === into.byteOffset + at;
}
