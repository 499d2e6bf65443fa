import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { digestOf } from './checksums.js';
import { combineCrcs } from './crc-combine.js';

describe('combineCrcs', () => {
  for (const algorithm of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
    it(`${algorithm} of parts equals ${algorithm} of the whole`, () => {
      const parts = [randomBytes(5 * 1024 * 1024 + 13), randomBytes(1), randomBytes(70_001), Buffer.alloc(0), randomBytes(4096)];
      const combined = combineCrcs(
        algorithm,
        parts.map((part) => ({ digest: digestOf(algorithm, part), length: part.length })),
      );
      expect(combined.toString('hex')).toBe(digestOf(algorithm, Buffer.concat(parts)).toString('hex'));
    });
  }

  it('of one part is that part’s CRC', () => {
    const part = Buffer.from('123456789');
    expect(combineCrcs('CRC32', [{ digest: digestOf('CRC32', part), length: 9 }]).toString('hex')).toBe('cbf43926');
  });
});
