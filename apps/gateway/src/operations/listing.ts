import type { ObjectsRepository, ObjectVersionEntity } from '@ferry/catalog';

export interface ListRequest {
  prefix: string;
  delimiter: string;
  /** Resume after this key or common prefix ('' from the start). */
  after: string;
  maxKeys: number;
}

export type ListEntry = { kind: 'object'; object: ObjectVersionEntity } | { kind: 'prefix'; prefix: string };

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
  let bound = { key: request.after, inclusive: false };
  // resuming from a common prefix skips everything beneath it
  if (request.after !== '' && commonPrefixOf(request.after, prefix, delimiter) === request.after) {
    bound = { key: prefixSuccessor(request.after), inclusive: true };
  }
  if (prefix > bound.key) bound = { key: prefix, inclusive: true };
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

function lastOf(entries: ListEntry[]): string | undefined {
  const last = entries.at(-1);
  return last === undefined ? undefined : last.kind === 'prefix' ? last.prefix : last.object.key;
}
