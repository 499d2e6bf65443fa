// Injected into every bundle by scripts/bundle.mjs, ahead of the bundle's own code: stack traces
// name the TypeScript sources, through the bundle's source map, read the first time a stack is
// formatted. Node's --enable-source-maps does the same, but reads at start-up the source map of
// every module that has one: typeorm, loaded from node_modules, brings 981 of them, and they cost
// each app about 100 ms of its start-up here (docs/benchmarks.md, eleventh session).
import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const bundleUrl = import.meta.url;
const bundlePath = fileURLToPath(bundleUrl);
/** undefined: not read yet; null: the bundle has none (or it cannot be read). */
let sourceMap;

function bundleMap() {
  if (sourceMap === undefined) {
    try {
      sourceMap = new SourceMap(JSON.parse(readFileSync(`${bundlePath}.map`, 'utf8')));
    } catch {
      sourceMap = null;
    }
  }
  return sourceMap;
}

/** The frame as V8 writes it, with a position in the bundle replaced by the source's. */
function frame(site) {
  const text = String(site);
  const file = site.getFileName();
  if (file !== bundleUrl && file !== bundlePath) return text;
  const line = site.getLineNumber();
  const column = site.getColumnNumber();
  if (!line || !column) return text;
  const entry = bundleMap()?.findEntry(line - 1, column - 1);
  if (!entry?.originalSource) return text;
  const source = resolve(dirname(bundlePath), entry.originalSource);
  return text.replace(`${file}:${line}:${column}`, `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`);
}

// A process started with --enable-source-maps maps every frame itself.
if (!process.sourceMapsEnabled) {
  // the way Node writes a stack: the error as a string, then a line per frame
  Error.prepareStackTrace = (error, sites) => {
    let header;
    try {
      // an Error's own toString, so that Node's errors read as Node writes them (`TypeError [ERR_…]: …`)
      header = error instanceof Error ? error.toString() : Error.prototype.toString.call(error);
    } catch {
      header = '<error>';
    }
    return sites.length === 0 ? header : `${header}\n    at ${sites.map(frame).join('\n    at ')}`;
  };
}
