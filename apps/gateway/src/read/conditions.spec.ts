import { describe, expect, it } from 'vitest';
import { checkPreconditions } from './conditions.js';

const object = { etag: 'abc', lastModified: new Date('2026-11-20T10:00:00.500Z') };
const before = 'Thu, 19 Nov 2026 10:00:00 GMT';
const same = 'Fri, 20 Nov 2026 10:00:00 GMT';
const after = 'Sat, 21 Nov 2026 10:00:00 GMT';

const outcome = (headers: Record<string, string | undefined>) => {
  try {
    checkPreconditions(headers, object);
    return 'ok';
  } catch (error) {
    return (error as { code: string }).code;
  }
};

describe('checkPreconditions', () => {
  it('If-Match passes on the ETag (quoted or not, in a list, or *) and fails otherwise', () => {
    expect(outcome({ 'if-match': '"abc"' })).toBe('ok');
    expect(outcome({ 'if-match': 'x, abc' })).toBe('ok');
    expect(outcome({ 'if-match': '*' })).toBe('ok');
    expect(outcome({ 'if-match': '"other"' })).toBe('PreconditionFailed');
  });

  it('If-Unmodified-Since fails only when modified after, at whole-second precision', () => {
    expect(outcome({ 'if-unmodified-since': same })).toBe('ok');
    expect(outcome({ 'if-unmodified-since': after })).toBe('ok');
    expect(outcome({ 'if-unmodified-since': before })).toBe('PreconditionFailed');
    // a matching If-Match takes precedence, as in S3
    expect(outcome({ 'if-match': 'abc', 'if-unmodified-since': before })).toBe('ok');
  });

  it('If-None-Match and If-Modified-Since answer Not Modified', () => {
    expect(outcome({ 'if-none-match': '"abc"' })).toBe('NotModified');
    expect(outcome({ 'if-none-match': '"other"' })).toBe('ok');
    expect(outcome({ 'if-modified-since': same })).toBe('NotModified');
    expect(outcome({ 'if-modified-since': before })).toBe('ok');
    // a non-matching If-None-Match overrides If-Modified-Since
    expect(outcome({ 'if-none-match': 'other', 'if-modified-since': after })).toBe('ok');
  });

  it('ignores dates it cannot parse', () => {
    expect(outcome({ 'if-modified-since': 'yesterday', 'if-unmodified-since': 'garbage' })).toBe('ok');
  });
});
