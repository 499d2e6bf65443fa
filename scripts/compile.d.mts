/** See compile.mjs. */
export function compileSources(options: {
  /** Directories of the repository, relative to its root. */
  dirs: string[];
  out: string;
  sourceMaps?: boolean;
  skipSpecs?: boolean;
}): Promise<number>;
