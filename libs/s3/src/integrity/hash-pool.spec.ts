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

describe.each([
  { engine: 'multi-buffer', multiBufferMd5: true },
  { engine: 'openssl', multiBufferMd5: false },
] as const)('HashPool with $engine MD5', ({ engine, multiBufferMd5 }) => {
  const pool = new HashPool(2, { multiBufferMd5 });
  afterAll(() => pool.close());

  it('runs the MD5 it was asked for (the addon is built by npm install)', () => {
    expect(pool.md5Engine).toBe(engine);
  });

  it('keeps 40 concurrent bodies of mixed sizes apart while their buffers interleave in the workers', async () => {
    const bodies = Array.from({ length: 40 }, (_, index) => randomBytes([0, 1, 63, 64, 65, 1_000_000, 3 * HASH_BUFFER_BYTES + 5, HASH_BUFFER_BYTES][index % 8]));
    const digests = await Promise.all(
      bodies.map(async (body, index) => {
        const session = pool.session(index % 3 === 0 ? ['MD5', 'SHA256'] : ['MD5']);
        await feed(pool, session, body, [HASH_BUFFER_BYTES, 65_536, 100_003][index % 3]);
        return (await session.digest()).map((digest) => digest.toString('hex'));
      }),
    );
    digests.forEach(([md5, sha256], index) => {
      expect(md5).toBe(createHash('md5').update(bodies[index]).digest('hex'));
      if (index % 3 === 0) expect(sha256).toBe(createHash('sha256').update(bodies[index]).digest('hex'));
    });
  });

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
