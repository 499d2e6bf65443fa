import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The URL a worker thread can load for `target` (a sibling `.js` module of the caller). Built code
 * (`dist/`) loads it as is. Code running from TypeScript sources (vitest) has no `.js` file there and
 * a worker thread cannot load TypeScript, so this lib's sources are transpiled with swc (a dev
 * dependency, only reached in that case) into node_modules/.cache, where package imports resolve.
 * Thread modules import only this lib's own files and npm packages, never another `@ferry/*` lib.
 */
export async function threadModuleUrl(target: URL): Promise<URL> {
  if (!target.pathname.endsWith('.js') || !new URL(import.meta.url).pathname.endsWith('.ts')) return target;
  const libSrc = dirname(dirname(fileURLToPath(import.meta.url)));
  const repoRoot = dirname(dirname(dirname(libSrc)));
  const out = join(repoRoot, 'node_modules', '.cache', 'ferry-threads', relative(repoRoot, libSrc));
  const { transformFile } = await import('@swc/core');
  const options = JSON.parse(await readFile(join(repoRoot, 'scripts', 'swc.json'), 'utf8')) as Record<string, unknown>;
  await mkdir(out, { recursive: true });
  // several test processes may do this at once, and may be loading these files meanwhile: each
  // file appears whole or not at all
  const put = async (destination: string, content: string) => {
    await writeFile(`${destination}.${process.pid}.tmp`, content);
    await rename(`${destination}.${process.pid}.tmp`, destination);
  };
  await put(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  for (const file of await sources(libSrc)) {
    const { code } = await transformFile(file, options);
    if (/from\s+['"]@ferry\//.test(code) && file.includes('/pool/')) throw new Error(`${file}: thread modules may not import @ferry/* libs`);
    const destination = join(out, relative(libSrc, file)).replace(/\.ts$/, '.js');
    await mkdir(dirname(destination), { recursive: true });
    await put(destination, code);
  }
  return pathToFileURL(join(out, relative(libSrc, fileURLToPath(target))));
}

async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') && !entry.name.endsWith('.d.ts')) found.push(path);
  }
  return found;
}
