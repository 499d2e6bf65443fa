import { describe, expect, it } from 'vitest';
import { mergeListed, prefixSuccessor, type ListRequest, type ListResult } from './listing.js';

describe('prefixSuccessor', () => {
  it('is greater than every key under the prefix and no key outside it in between', () => {
    expect(prefixSuccessor('a/')).toBe('a0');
    const under = ['a/', 'a/b', 'a/\u{10ffff}', 'a/zzzz'];
    for (const key of under) expect(Buffer.compare(Buffer.from(key), Buffer.from(prefixSuccessor('a/')))).toBe(-1);
    expect(Buffer.compare(Buffer.from('a0'), Buffer.from(prefixSuccessor('a/')))).toBe(0);
  });

  it('steps over the surrogate range', () => {
    expect(prefixSuccessor('x\ud7ff')).toBe('x\ue000');
  });
});

describe('mergeListed', () => {
  const object = (key: string) => ({
    key,
    versionId: 'null',
    isLatest: true,
    size: 1,
    etag: key,
    createdAt: new Date(0),
    checksums: {},
    checksumType: null,
  });
  const keys = (result: ListResult) => result.entries.map((entry) => (entry.kind === 'prefix' ? `P:${entry.prefix}` : entry.object.key));
  const page = (entries: string[], truncated = false): ListResult => ({
    entries: entries.map((key) => ({ kind: 'object', object: object(key) })),
    truncated,
    last: entries.at(-1),
  });
  const request = (overrides: Partial<ListRequest> = {}): ListRequest => ({ prefix: '', delimiter: '', after: '', maxKeys: 1000, ...overrides });

  it('merges extra objects in byte order and lets one hide a catalog row of the same key', () => {
    const merged = mergeListed(page(['a', 'c', 'e']), [object('d'), object('b'), object('c')], request());
    expect(keys(merged)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(merged.entries[2]).toMatchObject({ kind: 'object', object: { etag: 'c' } });
    expect(merged.truncated).toBe(false);
  });

  it('keeps only extras under the prefix and past the resume point', () => {
    const extras = [object('x/1'), object('x/2'), object('y/1')];
    expect(keys(mergeListed(page([]), extras, request({ prefix: 'x/', after: 'x/1' })))).toEqual(['x/2']);
  });

  it('folds extras into common prefixes, once, and skips the one being resumed from', () => {
    const extras = [object('d/a/1'), object('d/a/2'), object('d/b')];
    expect(keys(mergeListed(page([]), extras, request({ prefix: 'd/', delimiter: '/' })))).toEqual(['P:d/a/', 'd/b']);
    expect(keys(mergeListed(page([]), extras, request({ prefix: 'd/', delimiter: '/', after: 'd/a/' })))).toEqual(['d/b']);
  });

  it('cuts at maxKeys and says so, resuming after the last entry kept', () => {
    const merged = mergeListed(page(['b', 'd']), [object('a'), object('c')], request({ maxKeys: 3 }));
    expect(keys(merged)).toEqual(['a', 'b', 'c']);
    expect(merged).toMatchObject({ truncated: true, last: 'c' });
  });

  it('never adds past the last key of a truncated catalog page', () => {
    const merged = mergeListed(page(['a', 'b'], true), [object('z')], request({ maxKeys: 2 }));
    expect(keys(merged)).toEqual(['a', 'b']);
    expect(merged).toMatchObject({ truncated: true, last: 'b' });
  });
});
