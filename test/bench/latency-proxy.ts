/**
 * A proxy in front of Azurite that holds back every answer a number of milliseconds, as a Blob
 * service across a network would (Azurite on loopback answers at once): `node
 * dist/test/bench/latency-proxy.js <listenPort> <azuritePort> <latencyMs>`. repack.bench.ts puts it
 * between the worker and Azurite only when REPACK_BENCH_BLOB_LATENCY_MS is set (diagnosis only).
 * Requests and answers are streamed through untouched; no body is buffered.
 */
import { Agent, createServer, request } from 'node:http';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';

function serve(listenPort: number, targetPort: number, latencyMs: number): void {
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((req, res) => {
    const upstream = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent }, (response) => {
      setTimeout(() => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        pipeline(response, res, () => undefined);
      }, latencyMs);
    });
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(String(error));
      else res.destroy(error);
    });
    pipeline(req, upstream, (error) => {
      if (error) upstream.destroy(error);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(listenPort, '127.0.0.1', () => process.stdout.write(`latency proxy on ${listenPort} → ${targetPort}, ${latencyMs} ms\n`));
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [listenPort, targetPort, latencyMs] = process.argv.slice(2).map(Number);
  if (!Number.isInteger(listenPort) || !Number.isInteger(targetPort) || !(latencyMs > 0)) throw new Error('usage: latency-proxy <listenPort> <targetPort> <latencyMs>');
  serve(listenPort, targetPort, latencyMs);
}
