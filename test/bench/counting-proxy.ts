/**
 * A counting HTTP proxy in front of Azurite, run as its own process by repack.bench.ts so that its CPU
 * is measured apart from the client's: `node dist/test/bench/counting-proxy.js <listenPort> <azuritePort>`.
 * Requests and bodies are streamed through untouched (no body is buffered); each request is counted
 * by container and kind (Put Blob, Put Block, Put Block List, …) with the bytes of its body.
 * `GET /__bench/counts` answers the totals so far as JSON (never forwarded). A third argument, in
 * milliseconds, holds back every answer that long: a round trip to a Blob service across a network,
 * which Azurite on loopback does not have (REPACK_BENCH_BLOB_LATENCY_MS, diagnosis only).
 */
import { Agent, createServer, request, type IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream';
import { fileURLToPath } from 'node:url';

export type RequestKind = 'putBlob' | 'putBlock' | 'putBlockList' | 'copyBlob' | 'createContainer' | 'otherPut' | 'get' | 'head' | 'delete' | 'other';

/** One container's counts: requests per kind, and the request-body bytes of the writes. */
export interface ContainerCounts {
  requests: Partial<Record<RequestKind, number>>;
  writeBytes: number;
}
export type ProxyCounts = Record<string, ContainerCounts>;

export const COUNTS_PATH = '/__bench/counts';

/** The kind of an Azure Blob REST request, from its method, query and headers. */
export function classify(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>): RequestKind {
  const query = new URL(req.url ?? '/', 'http://proxy').searchParams;
  switch (req.method ?? '') {
    case 'PUT': {
      const comp = query.get('comp');
      if (query.get('restype') === 'container' && !comp) return 'createContainer';
      if (comp === 'block') return 'putBlock';
      if (comp === 'blocklist') return 'putBlockList';
      if (comp) return 'otherPut';
      return req.headers['x-ms-copy-source'] ? 'copyBlob' : 'putBlob';
    }
    case 'GET':
      return 'get';
    case 'HEAD':
      return 'head';
    case 'DELETE':
      return 'delete';
    default:
      return 'other';
  }
}

/** `/<account>/<container>/<blob>` → container ('' for account-level requests). */
function containerOf(url: string | undefined): string {
  const path = new URL(url ?? '/', 'http://proxy').pathname;
  return decodeURIComponent(path.split('/')[2] ?? '');
}

/** The Blob write requests (the ones a Blob bill counts as writes of data) among a container's counts. */
export function blobWrites(counts: ContainerCounts | undefined): number {
  const requests = counts?.requests ?? {};
  return (requests.putBlob ?? 0) + (requests.putBlock ?? 0) + (requests.putBlockList ?? 0) + (requests.copyBlob ?? 0);
}

/** Counts accumulated since `before` (a snapshot taken earlier from the same proxy). */
export function countsBetween(before: ProxyCounts, after: ProxyCounts): ProxyCounts {
  const result: ProxyCounts = {};
  for (const [container, counts] of Object.entries(after)) {
    const earlier = before[container];
    const requests: ContainerCounts['requests'] = {};
    for (const [kind, value] of Object.entries(counts.requests) as [RequestKind, number][]) {
      const delta = value - (earlier?.requests[kind] ?? 0);
      if (delta > 0) requests[kind] = delta;
    }
    result[container] = { requests, writeBytes: counts.writeBytes - (earlier?.writeBytes ?? 0) };
  }
  return result;
}

export async function readCounts(port: number): Promise<ProxyCounts> {
  const response = await fetch(`http://127.0.0.1:${port}${COUNTS_PATH}`);
  if (!response.ok) throw new Error(`counting proxy answered ${response.status}`);
  return (await response.json()) as ProxyCounts;
}

function serve(listenPort: number, targetPort: number, latencyMs: number): void {
  const counts: ProxyCounts = {};
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const server = createServer((req, res) => {
    if (req.url === COUNTS_PATH) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(counts));
      return;
    }
    const kind = classify(req);
    const container = containerOf(req.url);
    const entry = (counts[container] ??= { requests: {}, writeBytes: 0 });
    entry.requests[kind] = (entry.requests[kind] ?? 0) + 1;
    if (req.method === 'PUT') req.on('data', (data: Buffer) => (entry.writeBytes += data.length));
    const upstream = request(
      { host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: req.headers, agent },
      (response) => {
        const answer = () => {
          res.writeHead(response.statusCode ?? 502, response.headers);
          pipeline(response, res, () => undefined);
        };
        if (latencyMs > 0) setTimeout(answer, latencyMs);
        else answer();
      },
    );
    upstream.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end(String(error));
      else res.destroy(error);
    });
    pipeline(req, upstream, (error) => {
      if (error) upstream.destroy(error);
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(listenPort, '127.0.0.1', () => process.stdout.write(`counting proxy on ${listenPort} → ${targetPort}\n`));
  const stop = () => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [listenPort, targetPort, latencyMs = 0] = process.argv.slice(2).map(Number);
  if (!Number.isInteger(listenPort) || !Number.isInteger(targetPort) || !(latencyMs >= 0)) throw new Error('usage: counting-proxy <listenPort> <targetPort> [latencyMs]');
  serve(listenPort, targetPort, latencyMs);
}
