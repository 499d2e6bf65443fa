import { randomUUID } from 'node:crypto';
import type { NewObjectVersion } from '@ferry/catalog';

/** A plain object version for catalog tests: no metadata, no checksums, one spool file of its size. */
export function newObjectVersion(key: string, size: number, overrides: Partial<NewObjectVersion> = {}): NewObjectVersion {
  return {
    id: randomUUID(),
    key,
    size,
    etag: 'e',
    contentType: null,
    headers: {},
    userMetadata: {},
    checksums: {},
    checksumType: null,
    parts: null,
    spool: [{ path: `spool/${key}`, size }],
    ...overrides,
  };
}
