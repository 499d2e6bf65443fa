import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { spawnChild, type Child } from './child.js';
import { freePort, waitForPort } from './free-port.js';

/** Azurite's fixed development account; only ever used for the embedded or test Azurite. */
const DEV_ACCOUNT = 'devstoreaccount1';
const DEV_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface EmbeddedAzurite {
  connectionString: string;
  port: number;
  pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Node's flags for Azurite's process. Azurite keeps a small heap (about 26 MiB of live objects here),
 * and under load V8 kept the old generation's limit within a few MiB of what the last full
 * collection left, so the objects that requests left behind set off the next one 60-200 ms later:
 * 406 full collections in one `REPACK_BENCH_DRAIN_ONLY` bench round ("GC in old space requested",
 * a median of 1.3 MiB freed by each), and a third of Azurite's CPU in perf.
 * An initial old space of 128 MiB is a floor under that limit: 3 full collections in the same round,
 * and Azurite's CPU per GiB taken fell to 0.3-0.5 of what it was (docs/benchmarks.md).
 */
export const AZURITE_NODE_FLAGS = ['--initial-old-space-size=128'];

/**
 * Starts Azurite's blob service as a child process (`node .../azurite-blob`, not npx, so stopping
 * it cannot orphan it). `location` undefined keeps everything in memory (tests). `onLine` gets each
 * line it prints, its access log (a line per request handled) among them.
 */
export async function startAzurite(options: { location?: string; port?: number; quiet?: boolean; onLine?: (line: string) => void } = {}): Promise<EmbeddedAzurite> {
  const port = options.port ?? (await freePort());
  const require = createRequire(import.meta.url);
  const main = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const args = [...AZURITE_NODE_FLAGS, main, '--blobHost', '127.0.0.1', '--blobPort', String(port), '--skipApiVersionCheck', '--disableTelemetry', '--loose'];
  if (options.location) args.push('--location', options.location);
  else args.push('--inMemoryPersistence');
  const child: Child = spawnChild('azurite', process.execPath, args, { quiet: options.quiet ?? true, onLine: options.onLine });
  const exitedEarly = new Promise<never>((_, reject) =>
    child.process.once('exit', (code) => reject(new Error(`azurite exited early with code ${code}`))),
  );
  await Promise.race([waitForPort(port), exitedEarly]);
  return {
    port,
    pid: child.process.pid,
    connectionString: `DefaultEndpointsProtocol=http;AccountName=${DEV_ACCOUNT};AccountKey=${DEV_KEY};BlobEndpoint=http://127.0.0.1:${port}/${DEV_ACCOUNT};`,
    stop: () => child.stop(),
  };
}
