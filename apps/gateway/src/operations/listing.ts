import type { ObjectsRepository, ObjectVersionEntity } from '@ferry/catalog';

export interface ListRequest {
  prefix: string;
  delimiter: string;
  /** Resume after this key or common prefix ('' from the start). */
  after: string;
  maxKeys: number;
}

/** What a listing shows of an object: a catalog row, or a virtual object such as Veeam's SOSAPI files. */
export type ListedObject = Pick<ObjectVersionEntity, 'key' | 'versionId' | 'isLatest' | 'size' | 'etag' | 'createdAt' | 'checksums' | 'checksumType'>;

export type ListEntry = { kind: 'object'; object: ListedObject } | { kind: 'prefix'; prefix: string };

export interface ListResult {
  entries: ListEntry[];
  truncated: boolean;
  /** The last key or common prefix returned, to resume from. */
  last?: string;
}

const BATCH = 1000;

/** The smallest string greater than every string that starts with `prefix` (byte order). */
export function prefixSuccessor(prefix: string): string {
  const points = Array.from(prefix);
  const last = points.pop()?.codePointAt(0) ?? 0;
  const next = last === 0xd7ff ? 0xe000 : last + 1;
  return points.join('') + String.fromCodePoint(Math.min(next, 0x10ffff));
}

function commonPrefixOf(key: string, prefix: string, delimiter: string): string | undefined {
  if (delimiter === '') return undefined;
  const at = key.indexOf(delimiter, prefix.length);
  return at === -1 ? undefined : key.slice(0, at + delimiter.length);
}

/**
 * One page of a listing with S3 semantics: keys under `prefix` in byte order; with a delimiter,
 * keys sharing the next delimiter-terminated segment fold into one common prefix, and the scan
 * jumps past that prefix instead of reading every key beneath it.
 */
export async function listPage(objects: ObjectsRepository, tenantId: string, bucketId: string, request: ListRequest): Promise<ListResult> {
  const { prefix, delimiter, maxKeys } = request;
  const entries: ListEntry[] = [];
  let bound = resumeBound(request);
  for (;;) {
    const rows = await objects.listLatest(tenantId, bucketId, { prefix, bound, limit: BATCH });
    for (const row of rows) {
      const common = commonPrefixOf(row.key, prefix, delimiter);
      if (entries.length === maxKeys) return { entries, truncated: true, last: lastOf(entries) };
      if (common !== undefined) {
        entries.push({ kind: 'prefix', prefix: common });
        bound = { key: prefixSuccessor(common), inclusive: true };
        break;
      }
      entries.push({ kind: 'object', object: row });
      bound = { key: row.key, inclusive: false };
    }
    const jumped = rows.length > 0 && entries.at(-1)?.kind === 'prefix' && bound.inclusive;
    if (!jumped && rows.length < BATCH) return { entries, truncated: false, last: lastOf(entries) };
    if (rows.length === 0) return { entries, truncated: false, last: lastOf(entries) };
  }
}

/** Where a listing starts: after the resume point, past all of it when that is a common prefix. */
function resumeBound({ prefix, delimiter, after }: ListRequest): { key: string; inclusive: boolean } {
  let bound = { key: after, inclusive: false };
  // resuming from a common prefix skips everything beneath it
  if (after !== '' && commonPrefixOf(after, prefix, delimiter) === after) bound = { key: prefixSuccessor(after), inclusive: true };
  if (prefix > bound.key) bound = { key: prefix, inclusive: true };
  return bound;
}

const compareBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
const entryKey = (entry: ListEntry) => (entry.kind === 'prefix' ? entry.prefix : entry.object.key);

/**
 * Merges objects the catalog does not hold (Veeam's SOSAPI files) into a page by the rules its rows
 * follow: under the prefix, past the resume point, folded into common prefixes, byte order, at most
 * maxKeys entries. An extra object hides a catalog row of the same key, as a read of that key would.
 */
export function mergeListed(page: ListResult, extra: readonly ListedObject[], request: ListRequest): ListResult {
  const { prefix, delimiter, maxKeys } = request;
  const bound = resumeBound(request);
  const added: ListEntry[] = [];
  for (const object of [...extra].sort((a, b) => compareBytes(a.key, b.key))) {
    const order = compareBytes(object.key, bound.key);
    if (!object.key.startsWith(prefix) || order < 0 || (order === 0 && !bound.inclusive)) continue;
    const common = commonPrefixOf(object.key, prefix, delimiter);
    const entry: ListEntry = common === undefined ? { kind: 'object', object } : { kind: 'prefix', prefix: common };
    if (added.length === 0 || entryKey(added.at(-1)!) !== entryKey(entry)) added.push(entry);
  }
  if (added.length === 0) return page;
  const merged: ListEntry[] = [];
  let i = 0;
  let j = 0;
  while (i < page.entries.length || j < added.length) {
    const real = page.entries[i];
    const extraEntry = added[j];
    const order = real === undefined ? 1 : extraEntry === undefined ? -1 : compareBytes(entryKey(real), entryKey(extraEntry));
    if (order < 0) {
      merged.push(real!);
      i++;
    } else {
      merged.push(extraEntry!);
      j++;
      if (order === 0) i++;
    }
  }
  // a truncated page already holds maxKeys entries before its last key, so nothing past it survives the cut
  const entries = merged.slice(0, maxKeys);
  return { entries, truncated: page.truncated || merged.length > maxKeys, last: lastOf(entries) };
}

function lastOf(entries: ListEntry[]): string | undefined {
  const last = entries.at(-1);
  return last === undefined ? undefined : last.kind === 'prefix' ? last.prefix : last.object.key;
}
