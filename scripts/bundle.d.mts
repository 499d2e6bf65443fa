/** See bundle.mjs. */
export function bundleApps(options: {
  /** The compiled tree (swc's output, with the `@ferry/*` aliases rewritten). */
  from: string;
  /** Where `<app>.js` and `packing.thread.js` go. */
  out: string;
  apps?: Array<'gateway' | 'worker' | 'console' | 'ledger'>;
  sourcemap?: boolean;
}): Promise<void>;
