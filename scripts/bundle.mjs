// Bundles compiled apps (the swc output under a build directory) into one ES module each, with
// esbuild. An app process spends most of its start-up resolving and loading thousands of small
// modules (Nest, BullMQ, the Azure SDK, ...): measured here, the worker went from 1.1 s to 0.7 s
// from spawn to ready. Bundling the swc output, not the TypeScript, keeps swc's decorator metadata,
// which Nest's dependency injection needs and esbuild does not emit.
import { build } from 'esbuild';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What each app's bundle starts from, relative to the build directory. */
const ENTRIES = {
  gateway: 'apps/gateway/src/main.js',
  worker: 'apps/worker/src/main.js',
  console: 'apps/console/src/main.js',
  ledger: 'apps/ledger/src/main.js',
  // the packing pool starts its threads from `new URL('./packing.thread.js', import.meta.url)`, which
  // in a bundle is the bundle's own directory: the thread module is bundled beside the apps
  'packing.thread': 'libs/packing/src/pool/packing.thread.js',
};

// Loaded from node_modules at run time, not bundled:
const EXTERNAL = [
  // native addons, and the optional native driver pg looks for
  'zstd-napi',
  '@node-rs/crc32',
  'pg-native',
  // starts its threads from a file of its own
  'piscina',
  // picks its database driver and CLI helpers with requires esbuild cannot follow
  'typeorm',
  // Nest's optional packages: required inside try/catch only when a feature is used
  '@nestjs/websockets',
  '@nestjs/websockets/*',
  'class-transformer',
  'class-validator',
  '@fastify/static',
  // the transports of @nestjs/microservices that Ferry does not use (it talks to the ledger over Redis)
  'kafkajs',
  'mqtt',
  '@nats-io/*',
  'amqplib',
  'amqp-connection-manager',
  '@grpc/*',
  // only the source-tree build of the thread module compiles with it (thread-module.ts)
  '@swc/core',
];

/**
 * Writes `<out>/<app>.js` (with its source map, chained to the TypeScript through swc's maps) for
 * each of `apps`, and `<out>/packing.thread.js`, from the compiled tree at `from`.
 */
export async function bundleApps({ from, out, apps = ['gateway', 'worker', 'console', 'ledger'], sourcemap = true }) {
  const entryPoints = Object.fromEntries(
    [...apps, 'packing.thread'].map((name) => {
      if (!ENTRIES[name]) throw new Error(`no bundle entry for ${name}`);
      return [name, join(from, ENTRIES[name])];
    }),
  );
  await build({
    entryPoints,
    outdir: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap,
    // Node maps stack traces with the mappings alone; the embedded sources would only slow its start
    sourcesContent: false,
    // Nest and TypeORM name providers, repositories and migrations after their classes: a class
    // esbuild renamed to avoid a clash would break them without an error
    keepNames: true,
    minify: true,
    // Node prints the source line an uncaught error was thrown from, whole: not a minified megabyte
    lineLimit: 160,
    external: EXTERNAL,
    // CommonJS packages in an ES module bundle still call require() for Node's built-ins
    banner: { js: "import { createRequire as __ferryCreateRequire } from 'node:module'; const require = __ferryCreateRequire(import.meta.url);" },
    // runs first in every bundle: stack traces through the bundle's source map, read when first needed
    inject: [fileURLToPath(new URL('./stack-traces.mjs', import.meta.url))],
    logLevel: 'warning',
  });
}
