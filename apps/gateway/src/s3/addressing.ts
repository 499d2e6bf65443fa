import { FerryError, FerryErrorCode } from '@ferry/common';

export interface Address {
  bucket?: string;
  key?: string;
  /** True when the bucket came from the Host header (virtual-host style). */
  virtualHost: boolean;
}

function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new FerryError(FerryErrorCode.InvalidArgument, 'Invalid URI: bad percent-encoding');
  }
}

/**
 * Bucket and key from a request: `<bucket>.<domain>` in the Host header for any configured domain
 * (virtual-host style), else the first path segment (path style). Keys keep every slash as sent.
 */
export function resolveAddress(rawPath: string, host: string | undefined, domains: string[]): Address {
  const hostname = (host ?? '').replace(/:\d+$/, '').toLowerCase();
  for (const domain of domains) {
    if (hostname.endsWith(`.${domain}`)) {
      const bucket = hostname.slice(0, -(domain.length + 1));
      const key = rawPath.length > 1 ? decode(rawPath.slice(1)) : undefined;
      return { bucket, key, virtualHost: true };
    }
  }
  const trimmed = rawPath.replace(/^\//, '');
  if (trimmed === '') return { virtualHost: false };
  const slash = trimmed.indexOf('/');
  if (slash === -1) return { bucket: decode(trimmed), virtualHost: false };
  const key = trimmed.slice(slash + 1);
  return { bucket: decode(trimmed.slice(0, slash)), key: key === '' ? undefined : decode(key), virtualHost: false };
}
