import { describe, expect, it } from 'vitest';
import { prefixSuccessor } from './listing.js';

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
