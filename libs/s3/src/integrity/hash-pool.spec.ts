import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { HashPool } from './hash-pool.js';

describe('HashPool', () => {
  const pool = new HashPool(2);
  afterAll(() => pool.close());

  it('computes the same digests as node:crypto over many chunks, in order', async () => {
    const chunks = Array.from({ length: 300 }, (_, index) => randomBytes(1 + ((index * 7919) % 70_000)));
    const session = pool.session(['MD5', 'SHA256', 'SHA1']);
    for (const chunk of chunks) await session.update(chunk);
    const [md5, sha256, sha1] = await session.digest();
    const whole = Buffer.concat(chunks);
    expect(md5.toString('hex')).toBe(createHash('md5').update(whole).digest('hex'));
    expect(sha256.toString('hex')).toBe(createHash('sha256').update(whole).digest('hex'));
    expect(sha1.toString('hex')).toBe(createHash('sha1').update(whole).digest('hex'));
  });

  it('keeps concurrent sessions apart and handles empty bodies', async () => {
    const bodies = Array.from({ length: 8 }, (_, index) => randomBytes(index * 300_000));
    const digests = await Promise.all(
      bodies.map(async (body) => {
        const session = pool.session(['MD5']);
        for (let offset = 0; offset < body.length; offset += 65_536) await session.update(body.subarray(offset, offset + 65_536));
        return (await session.digest())[0].toString('hex');
      }),
    );
    expect(digests).toEqual(bodies.map((body) => createHash('md5').update(body).digest('hex')));
  });

  it('makes a fast producer wait instead of queueing without bound', async () => {
    const session = pool.session(['SHA256']);
    let waited = 0;
    const chunk = randomBytes(1024 * 1024);
    for (let index = 0; index < 64; index++) {
      const pending = session.update(chunk);
      if (pending) {
        waited++;
        await pending;
      }
    }
    await session.digest();
    expect(waited).toBeGreaterThan(0);
  });
});
