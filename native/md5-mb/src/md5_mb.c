/*
 * Multi-buffer MD5 compression: the 64-byte block function of RFC 1321 run over up to 16
 * independent streams at once, one stream per SIMD lane (AVX-512: 16 lanes, AVX2: 8), with a
 * portable scalar version for one stream and for CPUs without either. MD5 is serial within a
 * stream, so one stream cannot go faster than ~0.8 GiB/s per core; S3 gateways hash many bodies
 * at once (ETags), and lanes turn that concurrency into throughput (the approach of Intel's
 * isa-l_crypto md5_mb and MinIO's md5-simd).
 *
 * Only the compression function lives here: padding, lengths and carries are the caller's.
 * States are lane-major: state[lane * 4 + 0..3] = A, B, C, D.
 */
#include "md5_mb.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define MD5_MB_X86 1
#endif

static const uint32_t K[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static const int S[64] = {
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
    5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20, 5, 9,  14, 20,
    4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
    6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

/* The message word each step reads. */
static inline int word_of(int i) {
  if (i < 16) return i;
  if (i < 32) return (5 * i + 1) & 15;
  if (i < 48) return (3 * i + 5) & 15;
  return (7 * i) & 15;
}

static inline uint32_t load_le32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

/* The four rounds' functions and one step, written out so the compiler sees constants everywhere. */
#define F1(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define F2(b, c, d) ((c) ^ ((d) & ((b) ^ (c))))
#define F3(b, c, d) ((b) ^ (c) ^ (d))
#define F4(b, c, d) ((c) ^ ((b) | ~(d)))
#define STEP(F, a, b, c, d, i) (a) = (b) + rotl((a) + F((b), (c), (d)) + K[i] + w[word_of(i)], S[i])
#define FOUR(F, i)                \
  STEP(F, a, b, c, d, (i));       \
  STEP(F, d, a, b, c, (i) + 1);   \
  STEP(F, c, d, a, b, (i) + 2);   \
  STEP(F, b, c, d, a, (i) + 3)

void md5_mb_scalar(uint32_t state[4], const uint8_t *data, size_t blocks) {
  uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
  for (size_t block = 0; block < blocks; block++, data += 64) {
    uint32_t w[16];
    for (int i = 0; i < 16; i++) w[i] = load_le32(data + 4 * i);
    const uint32_t aa = a, bb = b, cc = c, dd = d;
    FOUR(F1, 0); FOUR(F1, 4); FOUR(F1, 8); FOUR(F1, 12);
    FOUR(F2, 16); FOUR(F2, 20); FOUR(F2, 24); FOUR(F2, 28);
    FOUR(F3, 32); FOUR(F3, 36); FOUR(F3, 40); FOUR(F3, 44);
    FOUR(F4, 48); FOUR(F4, 52); FOUR(F4, 56); FOUR(F4, 60);
    a += aa;
    b += bb;
    c += cc;
    d += dd;
  }
  state[0] = a;
  state[1] = b;
  state[2] = c;
  state[3] = d;
}

#ifdef MD5_MB_X86

__attribute__((target("avx512f"))) static void md5_x16(uint32_t *state, const uint8_t *const *lanes, int count, size_t blocks) {
  uint32_t sa[16], sb[16], sc[16], sd[16];
  const uint8_t *p[16];
  for (int l = 0; l < 16; l++) {
    /* unused lanes hash lane 0's bytes again; their results are dropped */
    const int from = l < count ? l : 0;
    p[l] = lanes[from];
    sa[l] = state[from * 4 + 0];
    sb[l] = state[from * 4 + 1];
    sc[l] = state[from * 4 + 2];
    sd[l] = state[from * 4 + 3];
  }
  __m512i a = _mm512_loadu_si512(sa), b = _mm512_loadu_si512(sb), c = _mm512_loadu_si512(sc), d = _mm512_loadu_si512(sd);
  for (size_t block = 0; block < blocks; block++) {
    /* one 64-byte block per lane, transposed so that w[i] holds word i of every lane */
    __m512i r[16], t[16];
    for (int l = 0; l < 16; l++) r[l] = _mm512_loadu_si512(p[l] + block * 64);
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
      r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
      r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
      r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
      r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 4; i++) {
      t[i] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0x88);
      t[i + 4] = _mm512_shuffle_i32x4(r[i], r[i + 4], 0xDD);
      t[i + 8] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0x88);
      t[i + 12] = _mm512_shuffle_i32x4(r[i + 8], r[i + 12], 0xDD);
    }
    __m512i w[16];
    for (int i = 0; i < 4; i++) {
      w[i] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0x88);
      w[i + 8] = _mm512_shuffle_i32x4(t[i], t[i + 8], 0xDD);
      w[i + 4] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0x88);
      w[i + 12] = _mm512_shuffle_i32x4(t[i + 4], t[i + 12], 0xDD);
    }
    const __m512i aa = a, bb = b, cc = c, dd = d;
    for (int i = 0; i < 64; i++) {
      __m512i f;
      /* ternary logic truth tables: F = (b&c)|(~b&d), G = (d&b)|(~d&c), H = b^c^d, I = c^(b|~d) */
      if (i < 16) f = _mm512_ternarylogic_epi32(b, c, d, 0xCA);
      else if (i < 32) f = _mm512_ternarylogic_epi32(d, b, c, 0xCA);
      else if (i < 48) f = _mm512_ternarylogic_epi32(b, c, d, 0x96);
      else f = _mm512_ternarylogic_epi32(b, c, d, 0x39);
      __m512i sum = _mm512_add_epi32(_mm512_add_epi32(a, f), _mm512_add_epi32(_mm512_set1_epi32((int)K[i]), w[word_of(i)]));
      sum = _mm512_rolv_epi32(sum, _mm512_set1_epi32(S[i]));
      a = d;
      d = c;
      c = b;
      b = _mm512_add_epi32(b, sum);
    }
    a = _mm512_add_epi32(a, aa);
    b = _mm512_add_epi32(b, bb);
    c = _mm512_add_epi32(c, cc);
    d = _mm512_add_epi32(d, dd);
  }
  _mm512_storeu_si512(sa, a);
  _mm512_storeu_si512(sb, b);
  _mm512_storeu_si512(sc, c);
  _mm512_storeu_si512(sd, d);
  for (int l = 0; l < count; l++) {
    state[l * 4 + 0] = sa[l];
    state[l * 4 + 1] = sb[l];
    state[l * 4 + 2] = sc[l];
    state[l * 4 + 3] = sd[l];
  }
}

/* 8 lanes of 32-bit words: r[l] holds 8 words of lane l on entry, r[j] word j of every lane on exit. */
__attribute__((target("avx2"))) static inline void transpose8(__m256i r[8]) {
  __m256i t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  for (int i = 0; i < 4; i++) {
    r[i] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2x128_si256(u[i], u[i + 4], 0x31);
  }
}

#define AVX2_F(b, c, d) _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
#define AVX2_G(b, c, d) _mm256_xor_si256(c, _mm256_and_si256(d, _mm256_xor_si256(b, c)))
#define AVX2_H(b, c, d) _mm256_xor_si256(_mm256_xor_si256(b, c), d)
#define AVX2_I(b, c, d) _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))))
#define AVX2_ROT(x, n) _mm256_or_si256(_mm256_slli_epi32(x, n), _mm256_srli_epi32(x, 32 - (n)))

/* 8 lanes, for CPUs with AVX2 but not AVX-512 (rotates as two shifts). */
__attribute__((target("avx2"))) static void md5_x8_avx2(uint32_t *state, const uint8_t *const *lanes, int count, size_t blocks) {
  uint32_t sa[8], sb[8], sc[8], sd[8];
  const uint8_t *p[8];
  for (int l = 0; l < 8; l++) {
    const int from = l < count ? l : 0;
    p[l] = lanes[from];
    sa[l] = state[from * 4 + 0];
    sb[l] = state[from * 4 + 1];
    sc[l] = state[from * 4 + 2];
    sd[l] = state[from * 4 + 3];
  }
  __m256i a = _mm256_loadu_si256((const __m256i *)sa), b = _mm256_loadu_si256((const __m256i *)sb);
  __m256i c = _mm256_loadu_si256((const __m256i *)sc), d = _mm256_loadu_si256((const __m256i *)sd);
  for (size_t block = 0; block < blocks; block++) {
    __m256i w[16];
    for (int l = 0; l < 8; l++) {
      w[l] = _mm256_loadu_si256((const __m256i *)(p[l] + block * 64));
      w[l + 8] = _mm256_loadu_si256((const __m256i *)(p[l] + block * 64 + 32));
    }
    transpose8(w);
    transpose8(w + 8);
    const __m256i aa = a, bb = b, cc = c, dd = d;
    for (int i = 0; i < 64; i++) {
      __m256i f;
      if (i < 16) f = AVX2_F(b, c, d);
      else if (i < 32) f = AVX2_G(b, c, d);
      else if (i < 48) f = AVX2_H(b, c, d);
      else f = AVX2_I(b, c, d);
      __m256i sum = _mm256_add_epi32(_mm256_add_epi32(a, f), _mm256_add_epi32(_mm256_set1_epi32((int)K[i]), w[word_of(i)]));
      sum = AVX2_ROT(sum, S[i]);
      a = d;
      d = c;
      c = b;
      b = _mm256_add_epi32(b, sum);
    }
    a = _mm256_add_epi32(a, aa);
    b = _mm256_add_epi32(b, bb);
    c = _mm256_add_epi32(c, cc);
    d = _mm256_add_epi32(d, dd);
  }
  _mm256_storeu_si256((__m256i *)sa, a);
  _mm256_storeu_si256((__m256i *)sb, b);
  _mm256_storeu_si256((__m256i *)sc, c);
  _mm256_storeu_si256((__m256i *)sd, d);
  for (int l = 0; l < count; l++) {
    state[l * 4 + 0] = sa[l];
    state[l * 4 + 1] = sb[l];
    state[l * 4 + 2] = sc[l];
    state[l * 4 + 3] = sd[l];
  }
}

#endif

static md5_mb_impl forced = MD5_MB_AUTO;

md5_mb_impl md5_mb_best(void) {
#ifdef MD5_MB_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return MD5_MB_AVX512;
  if (__builtin_cpu_supports("avx2")) return MD5_MB_AVX2;
#endif
  return MD5_MB_SCALAR;
}

int md5_mb_force(md5_mb_impl impl) {
  if (impl != MD5_MB_AUTO && impl > md5_mb_best()) return -1;
  forced = impl;
  return 0;
}

md5_mb_impl md5_mb_active(void) { return forced == MD5_MB_AUTO ? md5_mb_best() : forced; }

/* Below this many streams, lanes cost more than they give: each stream goes through the scalar code. */
#define MIN_VECTOR_LANES 3

void md5_mb_lanes(uint32_t *state, const uint8_t *const *lanes, int count, size_t blocks) {
  const md5_mb_impl impl = md5_mb_active();
  for (int first = 0; first < count;) {
    const int left = count - first;
#ifdef MD5_MB_X86
    /* (on CPUs that split 512-bit operations in two, 16 lanes half full cost what 8 full ones do) */
    if (impl == MD5_MB_AVX512 && left >= MIN_VECTOR_LANES) {
      const int n = left < 16 ? left : 16;
      md5_x16(state + first * 4, lanes + first, n, blocks);
      first += n;
      continue;
    }
    if (impl == MD5_MB_AVX2 && left >= MIN_VECTOR_LANES) {
      const int n = left < 8 ? left : 8;
      md5_x8_avx2(state + first * 4, lanes + first, n, blocks);
      first += n;
      continue;
    }
#else
    (void)impl;
#endif
    md5_mb_scalar(state + first * 4, lanes[first], blocks);
    first += 1;
  }
}
