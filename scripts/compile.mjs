// Compiles TypeScript sources of the repository to plain ES modules with swc: fast, emits decorator
// metadata for Nest's DI, and rewrites the @ferry/* path aliases to relative imports so plain `node`
// runs the output. Type checking is `npm run check` (tsc --noEmit); this only transpiles.
import { transformFile } from '@swc/core';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function* sources(dir, skipSpecs) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') yield* sources(path, skipSpecs);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !(skipSpecs && entry.name.endsWith('.spec.ts'))) {
      yield path;
    }
  }
}

/**
 * Compiles every `.ts` file under `dirs` (relative to the repository) into `out`, at the same
 * relative paths. Returns how many files it wrote.
 */
export async function compileSources({ dirs, out, sourceMaps = true, skipSpecs = false }) {
  const tsconfig = JSON.parse(await readFile(join(root, 'tsconfig.json'), 'utf8'));
  // the settings the test helpers that compile on their own use too (thread-module.ts)
  const swcOptions = JSON.parse(await readFile(join(root, 'scripts', 'swc.json'), 'utf8'));
  const aliases = new Map(
    Object.entries(tsconfig.compilerOptions.paths).map(([name, [target]]) => [name, join(out, target).replace(/\.ts$/, '.js')]),
  );
  let count = 0;
  for (const dir of dirs) {
    for await (const file of sources(join(root, dir), skipSpecs)) {
      const { code, map } = await transformFile(file, { ...swcOptions, sourceMaps });
      const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
      const rewritten = code.replace(/(from\s+|import\s*\(\s*)(['"])(@ferry\/[a-z0-9-]+)\2/g, (match, head, quote, spec) => {
        const hit = aliases.get(spec);
        if (!hit) throw new Error(`${relative(root, file)}: unknown alias ${spec}`);
        let rel = relative(dirname(target), hit).split('\\').join('/');
        if (!rel.startsWith('.')) rel = `./${rel}`;
        return `${head}${quote}${rel}${quote}`;
      });
      await mkdir(dirname(target), { recursive: true });
      if (sourceMaps) {
        await writeFile(target, `${rewritten}\n//# sourceMappingURL=${target.split('/').pop()}.map\n`);
        await writeFile(`${target}.map`, map);
      } else {
        await writeFile(target, rewritten);
      }
      count++;
    }
  }
  return count;
}
