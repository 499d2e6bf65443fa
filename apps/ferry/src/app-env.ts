import { setPriority } from 'node:os';
import { join } from 'node:path';
import { processEnvWith, toEnv, type ResolvedConfig } from '@ferry/config';

/**
 * The environment an app process runs with: the resolved configuration, plus a larger libuv
 * thread pool, since every acknowledged upload fsyncs on it and four threads would serialise
 * concurrent uploads behind each other.
 */
export function appEnvironment(config: ResolvedConfig): Record<string, string | undefined> {
  return processEnvWith({ ...toEnv(config), UV_THREADPOOL_SIZE: '16' });
}

/**
 * Forwarding is deferred work: the worker runs at a lower CPU priority than the gateway so that on a
 * busy node acknowledgements win and the spool drains in the gaps (store-and-forward by design).
 */
export function lowerPriority(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    setPriority(pid, 10);
  } catch {
    // not permitted here: run at normal priority
  }
}

/**
 * Node's flags for an app's process, as the launcher starts it. The gateway relays every byte a
 * client reads or writes through short-lived buffers and stream objects; a 32 MiB young generation
 * (V8's default is 16) measured 10-17 % less gateway CPU per GiB on reads from packs here.
 * No --enable-source-maps: each bundle maps its own stack traces (scripts/stack-traces.mjs).
 */
export function appNodeFlags(app: string): string[] {
  return app === 'gateway' ? ['--max-semi-space-size=32'] : [];
}

/**
 * The module an app's process runs, in the build directory `dist`: the app bundled into one file by
 * `npm run build` (scripts/bundle.mjs), which starts in about two thirds of the time its thousands of
 * separate modules take to load.
 */
export function appMain(dist: string, app: string): string {
  return join(dist, 'bundle', `${app}.js`);
}
