#ifndef FERRY_MD5_MB_H
#define FERRY_MD5_MB_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MD5_MB_AUTO = -1, MD5_MB_SCALAR = 0, MD5_MB_AVX2 = 1, MD5_MB_AVX512 = 2 } md5_mb_impl;

/* Runs `blocks` 64-byte blocks of each of `count` streams; state is lane-major (4 words a lane). */
void md5_mb_lanes(uint32_t *state, const uint8_t *const *lanes, int count, size_t blocks);
/* One stream. */
void md5_mb_scalar(uint32_t state[4], const uint8_t *data, size_t blocks);
/* The best implementation this CPU runs, the one in use, and a way to pick a lesser one (tests). */
md5_mb_impl md5_mb_best(void);
md5_mb_impl md5_mb_active(void);
int md5_mb_force(md5_mb_impl impl);

#endif
