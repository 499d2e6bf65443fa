import { createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { HASH_BUFFER_BYTES, HashPool, type HashSession } from './hash-pool.js';

/** Feeds data through a session the way the spool sink does: filled pool buffers, handed over. */
async function feed(pool: HashPool, session: HashSession, data: Buffer, piece = HASH_BUFFER_BYTES): Promise<number> {
  let waited = 0;
  for (let offset = 0; offset < data.length; offset += piece) {
    const buffer = await pool.takeBuffer();
    const length = data.copy(buffer, 0, offset, Math.min(offset + piece, data.length));
    const pending = session.submit(buffer, length);
    if (pending) {
      waited++;
      await pending;
    }
  }
  return waited;
}

describe('HashPool', () => {
  const pool = new HashPool(2);
  afterAll(() => pool.close());

  it('computes the same digests as node:crypto over many buffers, in order', async () => {
    const data = randomBytes(5 * HASH_BUFFER_BYTES + 12_345);
    const session = pool.session(['MD5', 'SHA256', 'SHA1']);
    await feed(pool, session, data, 70_001);
    const [md5, sha256, sha1] = await session.digest();
    expect(md5.toString('hex')).toBe(createHash('md5').update(data).digest('hex'));
    expect(sha256.toString('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(sha1.toString('hex')).toBe(createHash('sha1').update(data).digest('hex'));
  });

  it('keeps concurrent sessions apart and handles empty bodies', async () => {
    const bodies = Array.from({ length: 8 }, (_, index) => randomBytes(index * 300_000));
    const digests = await Promise.all(
      bodies.map(async (body) => {
        const session = pool.session(['MD5']);
        await feed(pool, session, body, 65_536);
        return (await session.digest())[0].toString('hex');
      }),
    );
    expect(digests).toEqual(bodies.map((body) => createHash('md5').update(body).digest('hex')));
  });

  it('makes a fast producer wait instead of queueing without bound, and reuses buffers', async () => {
    const session = pool.session(['SHA256']);
    const waited = await feed(pool, session, randomBytes(64 * HASH_BUFFER_BYTES));
    await session.digest();
    expect(waited).toBeGreaterThan(0);
    const again = await pool.takeBuffer();
    expect(again.byteLength).toBe(HASH_BUFFER_BYTES);
  });
});
