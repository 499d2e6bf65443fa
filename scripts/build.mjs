// `npm run build`: compiles apps/, libs/ and test/ to dist/ (compile.mjs), then bundles each app
// into dist/bundle/ (bundle.mjs), which is what the launcher and the benches run.
import { rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleApps } from './bundle.mjs';
import { compileSources } from './compile.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');

await rm(out, { recursive: true, force: true });
const count = await compileSources({ dirs: ['apps', 'libs', 'test'], out });
console.log(`build: ${count} files -> dist/`);
await bundleApps({ from: out, out: join(out, 'bundle') });
console.log('build: apps bundled -> dist/bundle/');
