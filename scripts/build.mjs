// Compiles apps/, libs/ and test/ to dist/ with swc: fast, emits decorator metadata for Nest's DI,
// and rewrites the @ferry/* path aliases to relative ESM imports so plain `node` runs the output.
// Type checking is `npm run check` (tsc --noEmit); this script only transpiles.
import { transformFile } from '@swc/core';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist');
const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.json'), 'utf8'));
// swc settings shared with the test helper that compiles a worker on its own (test/support/faults.ts)
const swcOptions = JSON.parse(await readFile(join(root, 'scripts', 'swc.json'), 'utf8'));
const aliases = Object.entries(tsconfig.compilerOptions.paths).map(([name, [target]]) => [
  name,
  join(root, target).replace(/\.ts$/, '.js'),
]);

async function* sources(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') yield* sources(path);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      yield path;
    }
  }
}

function rewriteAliases(code, file) {
  return code.replace(/(from\s+|import\s*\(\s*)(['"])(@ferry\/[a-z0-9-]+)\2/g, (match, head, quote, spec) => {
    const hit = aliases.find(([name]) => name === spec);
    if (!hit) throw new Error(`${relative(root, file)}: unknown alias ${spec}`);
    let rel = relative(dirname(file), hit[1]).split('\\').join('/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${head}${quote}${rel}${quote}`;
  });
}

await rm(out, { recursive: true, force: true });
let count = 0;
for (const top of ['apps', 'libs', 'test']) {
  for await (const file of sources(join(root, top))) {
    const { code, map } = await transformFile(file, { ...swcOptions, sourceMaps: true });
    const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, `${rewriteAliases(code, file)}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`);
    await writeFile(`${target}.map`, map);
    count++;
  }
}
console.log(`build: ${count} files -> dist/`);
