/**
 * Blob requests counted from Azurite's own access log, for repack.bench.ts: Azurite logs every request
 * it handles on stdout (morgan's "common" format) unless it runs `--silent`, and the bench already
 * reads that output. Counting there puts nothing between the worker and Azurite. Until the
 * eighteenth session a counting proxy stood in the worker's path, and on the two shared cores it
 * cost the timed drains 0.3-0.6 CPU-s per GiB that a Blob service across a network does not.
 */

export type RequestKind = 'putBlob' | 'putBlock' | 'putBlockList' | 'copyBlob' | 'createContainer' | 'otherPut' | 'get' | 'head' | 'delete' | 'other';

/** One container's requests, by kind. */
export interface ContainerCounts {
  requests: Partial<Record<RequestKind, number>>;
}
export type RequestCounts = Record<string, ContainerCounts>;

/**
 * The kind of an Azure Blob REST request, from its method and URL. A Copy Blob is a PUT told apart
 * only by its `x-ms-copy-source` header, which the access log does not show: without headers it
 * counts as a Put Blob, and either is a write.
 */
export function classify(method: string, url: string | URL, headers: Record<string, unknown> = {}): RequestKind {
  const query = (typeof url === 'string' ? new URL(url, 'http://blob') : url).searchParams;
  switch (method) {
    case 'PUT': {
      const comp = query.get('comp');
      if (query.get('restype') === 'container' && !comp) return 'createContainer';
      if (comp === 'block') return 'putBlock';
      if (comp === 'blocklist') return 'putBlockList';
      if (comp) return 'otherPut';
      return headers['x-ms-copy-source'] ? 'copyBlob' : 'putBlob';
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
export function containerOf(url: string | URL): string {
  const path = (typeof url === 'string' ? new URL(url, 'http://blob') : url).pathname;
  return decodeURIComponent(path.split('/')[2] ?? '');
}

/** The Blob write requests (the ones a Blob bill counts as writes of data) among a container's counts. */
export function blobWrites(counts: ContainerCounts | undefined): number {
  const requests = counts?.requests ?? {};
  return (requests.putBlob ?? 0) + (requests.putBlock ?? 0) + (requests.putBlockList ?? 0) + (requests.copyBlob ?? 0);
}

/** Counts accumulated since `before` (a snapshot taken earlier from the same log). */
export function countsBetween(before: RequestCounts, after: RequestCounts): RequestCounts {
  const result: RequestCounts = {};
  for (const [container, counts] of Object.entries(after)) {
    const requests: ContainerCounts['requests'] = {};
    for (const [kind, value] of Object.entries(counts.requests) as [RequestKind, number][]) {
      const delta = value - (before[container]?.requests[kind] ?? 0);
      if (delta > 0) requests[kind] = delta;
    }
    result[container] = { requests };
  }
  return result;
}

/** `127.0.0.1 - - [08/Dec/2026:01:02:03 +0000] "PUT /devstoreaccount1/c/b?comp=block HTTP/1.1" 201 -` */
const COMMON_LOG_LINE = /^\S+ \S+ \S+ \[[^\]]*\] "([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) /;

/**
 * Azurite's access log, counted by container and kind as its lines arrive (`line`, fed each line of
 * Azurite's stdout). A line is written when its response has been sent, so a request that a client
 * has had its answer to is counted once `settled` returns.
 */
export class BlobRequestLog {
  private readonly counts: RequestCounts = {};
  private readonly awaited = new Map<string, () => void>();
  private markers = 0;

  /** Takes one line of Azurite's output; lines that are not access-log lines are passed over. */
  line(text: string): void {
    const match = COMMON_LOG_LINE.exec(text);
    if (!match) return;
    const [, method, url] = match;
    this.awaited.get(url)?.();
    const parsed = new URL(url, 'http://blob');
    const entry = (this.counts[containerOf(parsed)] ??= { requests: {} });
    const kind = classify(method, parsed);
    entry.requests[kind] = (entry.requests[kind] ?? 0) + 1;
  }

  /** The counts so far (a copy). */
  snapshot(): RequestCounts {
    return structuredClone(this.counts);
  }

  /**
   * Returns once every request answered before the call has been counted: it sends one request of
   * its own (to a container no one uses) and waits for its line, which Azurite writes after theirs.
   */
  async settled(blobEndpoint: string, timeoutMs = 10_000): Promise<void> {
    const path = `${new URL(blobEndpoint).pathname.replace(/\/$/, '')}/bench-log-marker-${++this.markers}`;
    const seen = new Promise<void>((resolve) => this.awaited.set(path, resolve));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Azurite's access log did not show ${path} within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      // an anonymous GET of a container that does not exist: Azurite answers with an error, and logs it
      const response = await fetch(new URL(path, blobEndpoint));
      await response.arrayBuffer();
      await Promise.race([seen, timeout]);
    } finally {
      clearTimeout(timer);
      this.awaited.delete(path);
    }
  }
}
