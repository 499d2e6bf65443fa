import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { BlobServiceClient, ContainerSASPermissions } from '@azure/storage-blob';
import { GetConnection, getAll } from '../bench/http-get.js';

const MiB = 1024 * 1024;

/** The restore bench's HTTP client: what it accepts, and that it never lets wrong bytes through. */
describe('the restore bench GET client', () => {
  const objects = [randomBytes(5 * MiB + 17), randomBytes(1), Buffer.alloc(0), randomBytes(300 * 1024)];
  let http: Server;
  let httpPort: number;
  const served: string[] = [];

  beforeAll(async () => {
    http = createHttpServer((req, res) => {
      served.push(req.url ?? '');
      const [, name, flag] = /^\/o\/(\d+)(?:\?(\w+))?$/.exec(req.url ?? '') ?? [];
      const body = objects[Number(name)];
      if (!body && name === '8') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('no such object'); // chunked
      if (!body) return void res.writeHead(404, { 'content-type': 'text/plain', 'content-length': 14 }).end('no such object');
      if (flag === 'close') res.setHeader('connection', 'close');
      if (flag === 'chunked') return void res.writeHead(200).end(body); // no Content-Length: chunked
      res.writeHead(200, { 'content-length': body.length });
      // the body in uneven writes, so reads split it anywhere
      for (let at = 0; at < body.length; at += 70_001) res.write(body.subarray(at, at + 70_001));
      res.end();
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    httpPort = (http.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => http.close(() => resolve())));

  it('reads every body over one kept-alive connection and checks each byte', async () => {
    const connection = new GetConnection('127.0.0.1', httpPort);
    for (const [index, expected] of objects.entries()) await connection.get(`/o/${index}`, expected);
    await connection.get('/o/0', objects[0]);
    connection.close();
  });

  it('fails a body that differs by one byte, or is shorter or longer than expected', async () => {
    const connection = new GetConnection('127.0.0.1', httpPort);
    const changed = Buffer.from(objects[0]);
    changed[4 * MiB] ^= 1;
    await expect(connection.get('/o/0', changed)).rejects.toThrow(/bytes \d+–\d+ differ/);
    await expect(connection.get('/o/3', objects[3].subarray(1))).rejects.toThrow(/differ|bytes read/);
    await expect(connection.get('/o/1', Buffer.concat([objects[1], Buffer.from('x')]))).rejects.toThrow('1 bytes read of 2');
    // and the connection is usable again afterwards
    await connection.get('/o/3', objects[3]);
    connection.close();
  });

  it('fails an error answer with its status and text, and an answer without a Content-Length', async () => {
    const connection = new GetConnection('127.0.0.1', httpPort);
    await expect(connection.get('/o/9', Buffer.alloc(0))).rejects.toThrow('status 404: no such object');
    await expect(connection.get('/o/8', Buffer.alloc(0))).rejects.toThrow('"HTTP/1.1 404 Not Found" status 404');
    await expect(connection.get('/o/3?chunked', objects[3])).rejects.toThrow(/without a Content-Length \(chunked\)/);
    await connection.get('/o/3', objects[3]);
    connection.close();
  });

  it('opens a new connection after a server closes one', async () => {
    const connection = new GetConnection('127.0.0.1', httpPort);
    served.length = 0;
    await connection.get('/o/3?close', objects[3]);
    await connection.get('/o/0?close', objects[0]);
    await connection.get('/o/3', objects[3]);
    expect(served).toEqual(['/o/3?close', '/o/0?close', '/o/3']);
    connection.close();
  });

  it('runs a pass over several connections, each object once', async () => {
    const connections = Array.from({ length: 3 }, () => new GetConnection('127.0.0.1', httpPort));
    const latencies: number[] = [];
    served.length = 0;
    const order = [0, 1, 2, 3, 0, 3, 1];
    await getAll(connections, order.length, async (i) => ({ pathAndQuery: `/o/${order[i]}`, expected: objects[order[i]], what: `object ${i}` }), latencies);
    expect(latencies).toHaveLength(order.length);
    expect(served.sort()).toEqual(order.map((index) => `/o/${index}`).sort());
    for (const connection of connections) connection.close();
  });

  describe('against a server that misbehaves', () => {
    let raw: NetServer;
    let rawPort: number;
    let answer: (socket: Socket) => void;
    beforeAll(async () => {
      raw = createNetServer((socket) => socket.once('data', () => answer(socket)));
      await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
      rawPort = (raw.address() as AddressInfo).port;
    });
    afterAll(() => new Promise<void>((resolve) => raw.close(() => resolve())));

    it('takes headers that arrive a few bytes at a time', async () => {
      answer = (socket) => {
        const bytes = Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello');
        let at = 0;
        const next = () => (at < bytes.length ? socket.write(bytes.subarray(at, (at += 3)), () => setTimeout(next, 2)) : undefined);
        next();
      };
      const connection = new GetConnection('127.0.0.1', rawPort);
      await connection.get('/', Buffer.from('hello'));
      connection.close();
    });

    it('takes headers and a body in one write, and headers split inside their blank line', async () => {
      const body = randomBytes(MiB + 3);
      answer = (socket) => socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]));
      const connection = new GetConnection('127.0.0.1', rawPort);
      await connection.get('/', body);
      connection.close();
      answer = (socket) => {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r`, () =>
          setTimeout(() => socket.write(Buffer.concat([Buffer.from('\n'), body])), 5),
        );
      };
      await connection.get('/', body);
      connection.close();
    });

    it('fails bytes past the end of the body, and a connection closed mid-body', async () => {
      answer = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhello');
      const connection = new GetConnection('127.0.0.1', rawPort);
      await expect(connection.get('/', Buffer.from('he'))).rejects.toThrow('3 bytes past the end of the body');
      answer = (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello');
      await expect(connection.get('/', Buffer.from('hellohello'))).rejects.toThrow('the server closed the connection');
      connection.close();
    });
  });

  it('reads a blob from Azurite by a SAS URL', async () => {
    const service = BlobServiceClient.fromConnectionString(inject('azurite'));
    const container = service.getContainerClient(`bench-get-${randomBytes(4).toString('hex')}`);
    await container.create();
    try {
      await container.getBlockBlobClient('one').uploadData(objects[0]);
      const url = new URL(await container.generateSasUrl({ permissions: ContainerSASPermissions.parse('r'), expiresOn: new Date(Date.now() + 600_000) }));
      const connection = new GetConnection(url.hostname, Number(url.port));
      await connection.get(`${url.pathname}/one${url.search}`, objects[0]);
      await expect(connection.get(`${url.pathname}/none${url.search}`, objects[0])).rejects.toThrow(/status 404/);
      connection.close();
    } finally {
      await container.delete();
    }
  });
});
