/**
 * The restore passes' HTTP client, the same for Ferry (presigned SigV4 URLs) and for Azurite (a SAS
 * URL): plain HTTP/1.1 GETs over keep-alive connections, one request at a time on each, every body
 * compared as it arrives with the bytes expected.
 *
 * Why not a client library: on this 2-core machine the client shares the cores with the server it
 * measures, and the libraries cost as much as the servers. Reading 1 GiB of 64 MiB objects,
 * @aws-sdk/client-s3 spent 1.7–2.3 CPU-s, node:http 0.5–2.6 and undici's dispatch API 1.2–1.5
 * (each body chunk copied into a new buffer, and those buffers collected), against 0.4–0.6 for
 * the gateway serving them from its cache. This client reads every connection into one buffer it
 * reuses (`net.Socket`'s `onread`) and spent 0.2–0.4, whichever server answered. The SDK passes
 * stay in the bench beside it.
 *
 * It takes only what both servers send to a GET: a status line, headers, a Content-Length body (an
 * error answer may be chunked: it fails with its status line).
 */
import { connect, type Socket } from 'node:net';

/** The body of one GET so far, and how it ends. */
interface Exchange {
  what: string;
  expected: Buffer;
  /** Header bytes until the blank line. */
  head: Buffer[];
  headBytes: number;
  status: number;
  /** Body bytes still to come; -1 until the headers are in. */
  remaining: number;
  /** Body bytes compared so far (of an error answer: its text). */
  offset: number;
  errorBody: Buffer[];
  closeAfter: boolean;
  resolve: () => void;
  reject: (error: Error) => void;
}

const READ_BUFFER = 256 * 1024;
const MAX_HEAD = 64 * 1024;

/** One keep-alive connection to `host:port`, opened when first needed and again after the server closes it. */
export class GetConnection {
  private socket?: Socket;
  private connected?: Promise<void>;
  private exchange?: Exchange;
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER);

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  /** GETs `pathAndQuery` and checks that the body is exactly `expected`; rejects on any other answer. */
  async get(pathAndQuery: string, expected: Buffer, what = pathAndQuery): Promise<void> {
    if (this.exchange) throw new Error('one request at a time on a connection');
    await this.open();
    const done = new Promise<void>((resolve, reject) => {
      this.exchange = { what, expected, head: [], headBytes: 0, status: 0, remaining: -1, offset: 0, errorBody: [], closeAfter: false, resolve, reject };
    });
    this.socket!.write(`GET ${pathAndQuery} HTTP/1.1\r\nHost: ${this.host}:${this.port}\r\n\r\n`);
    return done;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
    this.connected = undefined;
  }

  private open(): Promise<void> {
    if (this.socket && !this.socket.destroyed) return this.connected!;
    const socket = connect({
      host: this.host,
      port: this.port,
      noDelay: true,
      onread: { buffer: this.buffer, callback: (length: number, buffer: Uint8Array) => (this.received(Buffer.from(buffer.buffer, buffer.byteOffset, length)), true) },
    });
    this.socket = socket;
    this.connected = new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    // events of a connection already dropped (close() forgets it first) concern no request
    socket.on('error', (error) => this.socket === socket && this.fail(error));
    socket.on('close', () => this.socket === socket && this.fail(new Error('the server closed the connection')));
    return this.connected;
  }

  /** Bytes from the socket, valid only during this call (the buffer is reused for the next read). */
  private received(data: Buffer): void {
    const exchange = this.exchange;
    if (!exchange) {
      this.fail(new Error(`${data.length} bytes arrived with no request open`));
      return;
    }
    if (exchange.remaining < 0) {
      // Only header bytes are kept: a server that sends its headers and the start of the body in one
      // write (the gateway does) fills the whole read buffer, and copying that twice per request cost
      // this client more than reading the body did.
      const pending = exchange.headBytes;
      const head = pending === 0 ? data : Buffer.concat([...exchange.head, data.subarray(0, MAX_HEAD)]);
      const end = head.indexOf('\r\n\r\n', Math.max(0, pending - 3));
      if (end < 0) {
        exchange.head.push(Buffer.from(data));
        exchange.headBytes += data.length;
        if (exchange.headBytes > MAX_HEAD) this.fail(new Error(`${exchange.what}: no end of headers in ${exchange.headBytes} bytes`));
        return;
      }
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      exchange.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? Number.NaN);
      const header = (name: string) => lines.find((line) => line.toLowerCase().startsWith(`${name}:`))?.slice(name.length + 1).trim();
      const length = Number(header('content-length') ?? Number.NaN);
      if (!Number.isSafeInteger(length) || length < 0) {
        // an error answer's text may come chunked (Azurite's do): its status line says enough
        const why = exchange.status === 200 ? `without a Content-Length (${header('transfer-encoding') ?? 'no transfer-encoding'})` : `status ${exchange.status}`;
        this.fail(new Error(`${exchange.what}: "${lines[0]}" ${why}`));
        return;
      }
      exchange.remaining = length;
      exchange.closeAfter = header('connection')?.toLowerCase() === 'close';
      data = data.subarray(end + 4 - pending);
    }
    if (data.length > exchange.remaining) {
      this.fail(new Error(`${exchange.what}: ${data.length - exchange.remaining} bytes past the end of the body`));
      return;
    }
    if (exchange.status !== 200) exchange.errorBody.push(Buffer.from(data));
    else if (!exchange.expected.subarray(exchange.offset, exchange.offset + data.length).equals(data)) {
      this.fail(new Error(`${exchange.what}: bytes ${exchange.offset}–${exchange.offset + data.length} differ`));
      return;
    }
    exchange.offset += data.length;
    exchange.remaining -= data.length;
    if (exchange.remaining > 0) return;
    this.exchange = undefined;
    if (exchange.closeAfter) this.close();
    if (exchange.status !== 200) exchange.reject(new Error(`${exchange.what}: status ${exchange.status}: ${Buffer.concat(exchange.errorBody).toString('utf8').slice(0, 500)}`));
    else if (exchange.offset !== exchange.expected.length) exchange.reject(new Error(`${exchange.what}: ${exchange.offset} bytes read of ${exchange.expected.length}`));
    else exchange.resolve();
  }

  /** Ends the open request, if any, with `error` and drops the connection, which is then in no known state. */
  private fail(error: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.close();
    exchange?.reject(error);
  }
}

/**
 * GETs `count` objects over `connections` connections, each taking the next object as it finishes one
 * (the bench's other passes run `GETS` requests at a time the same way). `target(i)` gives the path
 * and query of object i (signed there, inside the timed pass, as a client signs each request) and
 * the bytes it must hold.
 */
export async function getAll(
  connections: GetConnection[],
  count: number,
  target: (index: number) => Promise<{ pathAndQuery: string; expected: Buffer; what: string }>,
  latencies: number[],
): Promise<void> {
  let next = 0;
  await Promise.all(
    connections.map(async (connection) => {
      while (next < count) {
        const index = next++;
        const start = performance.now();
        const { pathAndQuery, expected, what } = await target(index);
        await connection.get(pathAndQuery, expected, what);
        latencies.push(performance.now() - start);
      }
    }),
  );
}
