import type { ChecksumAlgorithm } from './checksums.js';

/**
 * Combines the CRCs of two byte strings into the CRC of their concatenation without the bytes
 * (zlib's crc32_combine, generalised to any reflected CRC whose init and xorout are all ones).
 * S3's FULL_OBJECT multipart checksums are exactly this over the parts, in order.
 */
interface ReflectedCrc {
  width: bigint;
  /** The reflected polynomial. */
  poly: bigint;
}

const CRCS: Partial<Record<ChecksumAlgorithm, ReflectedCrc>> = {
  CRC32: { width: 32n, poly: 0xedb88320n },
  CRC32C: { width: 32n, poly: 0x82f63b78n },
  CRC64NVME: { width: 64n, poly: 0x9a6c9329ac4bc9b5n },
};

export const isCombinable = (algorithm: ChecksumAlgorithm): boolean => CRCS[algorithm] !== undefined;

/** a(x) * b(x) mod p(x), in the reflected representation (the top bit is x^0). */
function multModP(a: bigint, b: bigint, crc: ReflectedCrc): bigint {
  let m = 1n << (crc.width - 1n);
  let product = 0n;
  for (;;) {
    if (a & m) {
      product ^= b;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    b = b & 1n ? (b >> 1n) ^ crc.poly : b >> 1n;
  }
  return product;
}

/** x^(8 * bytes) mod p(x). */
function xPowBytes(bytes: number, crc: ReflectedCrc): bigint {
  let result = 1n << (crc.width - 1n); // x^0
  let square = 1n << (crc.width - 2n); // x^1
  // x^(2^3) first: a byte is 8 bits
  for (let k = 0; k < 3; k++) square = multModP(square, square, crc);
  for (let n = BigInt(bytes); n > 0n; n >>= 1n) {
    if (n & 1n) result = multModP(square, result, crc);
    square = multModP(square, square, crc);
  }
  return result;
}

function toBigInt(digest: Uint8Array): bigint {
  return BigInt(`0x${Buffer.from(digest).toString('hex') || '0'}`);
}

function toDigest(value: bigint, width: bigint): Buffer {
  return Buffer.from(value.toString(16).padStart(Number(width / 4n), '0'), 'hex');
}

/**
 * The CRC (big-endian digest, as S3 encodes it) of the concatenation of parts whose CRCs and
 * lengths are given, in order.
 */
export function combineCrcs(algorithm: ChecksumAlgorithm, parts: { digest: Uint8Array; length: number }[]): Buffer {
  const crc = CRCS[algorithm];
  if (!crc) throw new Error(`${algorithm} is not a CRC that combines`);
  let combined = 0n;
  let first = true;
  for (const part of parts) {
    const value = toBigInt(part.digest);
    combined = first ? value : multModP(xPowBytes(part.length, crc), combined, crc) ^ value;
    first = false;
  }
  return toDigest(combined, crc.width);
}
