import { createCipheriv, createDecipheriv, createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkCodec, decodeChunk, encodeChunk, FRAME_OVERHEAD, PackIntegrityError } from './chunk-frame.js';
import { zstdCompressTransient } from './zstd.js';

/** Deterministic incompressible bytes: an AES-CTR keystream seeded by a string. */
function noise(length: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

/** Deterministic compressible bytes: log-like lines. */
function text(length: number, seed = 0): Buffer {
  const lines: string[] = [];
  for (let i = 0, size = 0; size < length; i++) {
    const line = `${new Date(1_700_000_000_000 + (seed + i) * 1000).toISOString()} INFO request ${i % 97} served in ${(i * 7) % 113} ms\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, length);
}

const KEY = createHash('sha256').update('data key').digest();
const id = (n: number) => createHash('sha256').update(`chunk ${n}`).digest();

describe('chunk frames', () => {
  it('round-trip compressible data as zstd and random data stored', async () => {
    for (const [plain, codec] of [
      [text(300_000), ChunkCodec.Zstd],
      [noise(300_000, 'r'), ChunkCodec.Stored],
    ] as const) {
      const encoded = encodeChunk(KEY, id(1), plain, { level: 1 });
      expect(encoded.codec).toBe(codec);
      expect(encoded.plainLength).toBe(plain.length);
      if (codec === ChunkCodec.Stored) expect(encoded.frame).toHaveLength(plain.length + FRAME_OVERHEAD);
      else expect(encoded.frame.length).toBeLessThan(plain.length / 4);
      expect(decodeChunk(KEY, id(1), encoded.codec, plain.length, encoded.frame).equals(plain)).toBe(true);
      // or into a buffer the caller gives (the gateway's decode writes a fetch's chunks into one)
      const into = Buffer.alloc(plain.length);
      expect(decodeChunk(KEY, id(1), encoded.codec, plain.length, encoded.frame, into)).toBe(into);
      expect(into.equals(plain)).toBe(true);
      expect(() => decodeChunk(KEY, id(1), encoded.codec, plain.length, encoded.frame, Buffer.alloc(plain.length - 1))).toThrow(RangeError);
    }
  });

  it('is nonce | AES-256-GCM ciphertext | tag with the associated data of docs/format.md', () => {
    const plain = noise(1000, 'layout');
    const { frame } = encodeChunk(KEY, id(2), plain, false);
    const aad = Buffer.concat([Buffer.from('ferry-chunk/1'), id(2), Buffer.from([0]), Buffer.from([0xe8, 0x03, 0, 0])]);
    const decipher = createDecipheriv('aes-256-gcm', KEY, frame.subarray(0, 12));
    decipher.setAAD(aad);
    decipher.setAuthTag(frame.subarray(frame.length - 16));
    const opened = Buffer.concat([decipher.update(frame.subarray(12, frame.length - 16)), decipher.final()]);
    expect(opened.equals(plain)).toBe(true);
  });

  it('keeps zstd only when it saves at least 1/32', () => {
    // 1024 bytes of noise then compressible bytes: vary the mix around the threshold
    const plain = Buffer.concat([noise(4096, 'mix'), Buffer.alloc(40)]);
    const encoded = encodeChunk(KEY, id(3), plain, { level: 1 });
    expect(encoded.codec).toBe(ChunkCodec.Stored); // saves < 128 bytes of 4136
    const better = Buffer.concat([noise(4096, 'mix'), Buffer.alloc(400)]);
    expect(encodeChunk(KEY, id(3), better, { level: 1 }).codec).toBe(ChunkCodec.Zstd);
    expect(encodeChunk(KEY, id(3), text(10_000), false).codec).toBe(ChunkCodec.Stored);
    expect(encodeChunk(KEY, id(3), text(10_000)).codec).toBe(ChunkCodec.Zstd);
  });

  it('handles empty chunks and uses a fresh nonce each time', () => {
    const empty = encodeChunk(KEY, id(4), Buffer.alloc(0));
    expect(empty).toMatchObject({ codec: ChunkCodec.Stored, plainLength: 0 });
    expect(empty.frame).toHaveLength(FRAME_OVERHEAD);
    expect(decodeChunk(KEY, id(4), ChunkCodec.Stored, 0, empty.frame)).toHaveLength(0);
    const again = encodeChunk(KEY, id(4), Buffer.alloc(0));
    expect(again.frame.subarray(0, 12).equals(empty.frame.subarray(0, 12))).toBe(false);
  });

  it('fails a frame decoded with the wrong key, id, codec or length', async () => {
    const zstd = encodeChunk(KEY, id(5), text(50_000));
    const stored = encodeChunk(KEY, id(6), noise(5_000, 's'));
    const otherKey = createHash('sha256').update('other').digest();
    const attempts: [Buffer, Buffer, number, number, Buffer][] = [
      [otherKey, id(5), ChunkCodec.Zstd, 50_000, zstd.frame],
      [KEY, id(7), ChunkCodec.Zstd, 50_000, zstd.frame],
      [KEY, id(5), ChunkCodec.Stored, 50_000, zstd.frame],
      [KEY, id(5), ChunkCodec.Zstd, 49_999, zstd.frame],
      [KEY, id(5), 2, 50_000, zstd.frame],
      [KEY, id(5).subarray(0, 31), ChunkCodec.Zstd, 50_000, zstd.frame],
      [KEY, id(5), ChunkCodec.Zstd, 50_000, zstd.frame.subarray(0, zstd.frame.length - 1)],
      [KEY, id(5), ChunkCodec.Zstd, 50_000, zstd.frame.subarray(0, 20)],
      [KEY, id(6), ChunkCodec.Zstd, 5_000, stored.frame],
      [KEY, id(6), ChunkCodec.Stored, 4_999, stored.frame],
      [KEY, id(6), ChunkCodec.Stored, 5_000, Buffer.concat([stored.frame, Buffer.alloc(1)])],
      [KEY, id(6), ChunkCodec.Stored, -1, stored.frame],
    ];
    expect(() => decodeChunk(otherKey, id(5), ChunkCodec.Zstd, 50_000, zstd.frame)).toThrow(
      expect.objectContaining({ name: 'PackIntegrityError', message: expect.stringMatching(/tag does not match/) }),
    );
    for (const [key, chunkId, codec, length, frame] of attempts) {
      expect(() => decodeChunk(key, chunkId, codec, length, frame)).toThrow(PackIntegrityError);
      if (length >= 0) expect(() => decodeChunk(key, chunkId, codec, length, frame, Buffer.alloc(length))).toThrow(PackIntegrityError);
    }
  });

  it('fails an authentic frame whose zstd data holds more or fewer bytes than its length says', () => {
    // a writer's bug, not tampering: the tag is right, the decompressed size is not
    const body = Buffer.from(zstdCompressTransient(1, text(50_000)));
    for (const claimed of [40_000, 60_000]) {
      const aad = Buffer.concat([Buffer.from('ferry-chunk/1'), id(9), Buffer.from([ChunkCodec.Zstd]), Buffer.alloc(4)]);
      aad.writeUInt32LE(claimed, aad.length - 4);
      const nonce = Buffer.alloc(12, 7);
      const cipher = createCipheriv('aes-256-gcm', KEY, nonce);
      cipher.setAAD(aad);
      const frame = Buffer.concat([nonce, cipher.update(body), cipher.final(), cipher.getAuthTag()]);
      expect(() => decodeChunk(KEY, id(9), ChunkCodec.Zstd, claimed, frame)).toThrow(PackIntegrityError);
    }
  });

  it('fails on any flipped byte', () => {
    const encoded = encodeChunk(KEY, id(8), text(20_000));
    for (let i = 0; i < encoded.frame.length; i += 37) {
      const frame = Buffer.from(encoded.frame);
      frame[i] ^= 0x40;
      expect(() => decodeChunk(KEY, id(8), encoded.codec, 20_000, frame), `byte ${i}`).toThrow(PackIntegrityError);
    }
  });

  it('reports its throughput', () => {
    const mib = 1024 * 1024;
    for (const [name, plain] of [
      ['compressible', text(mib)],
      ['random', noise(mib, 'throughput')],
    ] as const) {
      encodeChunk(KEY, id(9), plain); // warm-up
      const rounds = 40;
      const started = process.hrtime.bigint();
      let codec = ChunkCodec.Stored;
      for (let i = 0; i < rounds; i++) codec = encodeChunk(KEY, id(9), plain).codec;
      const encodeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      const { frame } = encodeChunk(KEY, id(9), plain);
      const decodeStarted = process.hrtime.bigint();
      for (let i = 0; i < rounds; i++) decodeChunk(KEY, id(9), codec, mib, frame);
      const decodeSeconds = Number(process.hrtime.bigint() - decodeStarted) / 1e9;
      console.log(
        `encodeChunk 1 MiB ${name} (${ChunkCodec[codec]}): ${(rounds / encodeSeconds).toFixed(0)} MiB/s; decodeChunk: ${(rounds / decodeSeconds).toFixed(0)} MiB/s`,
      );
    }
  });
});
