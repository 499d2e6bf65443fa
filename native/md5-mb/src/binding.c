/*
 * Node-API surface of the multi-buffer MD5:
 *   lanes(states: Uint32Array, data: Uint8Array, offsets: Uint32Array, count: number, blocks: number)
 *     hashes `blocks` 64-byte blocks of `count` streams, stream i starting at data[offsets[i]] and
 *     its state at states[4i..4i+3]; every range is bounds-checked (RangeError) before any work.
 *   implementation(): 'avx512' | 'avx2' | 'scalar'   best(): the same for the best this CPU runs
 *   force(name | 'auto'): use a lesser implementation (tests); throws if the CPU lacks it
 * The data may be a view of a SharedArrayBuffer; the caller keeps it alive and unchanged during the call.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <string.h>

#include "md5_mb.h"

#define MAX_LANES 64

#define CHECK(call)                                                        \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "md5-mb: Node-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_range(napi_env env, const char *message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static int typed_array(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  bool is = false;
  if (napi_is_typedarray(env, value, &is) != napi_ok || !is) return 0;
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

static napi_value lanes(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) return throw_range(env, "md5-mb: lanes(states, data, offsets, count, blocks)");
  uint32_t *states;
  uint8_t *data;
  uint32_t *offsets;
  size_t state_words, data_bytes, offset_count;
  if (!typed_array(env, argv[0], napi_uint32_array, (void **)&states, &state_words)) return throw_range(env, "md5-mb: states must be a Uint32Array");
  if (!typed_array(env, argv[1], napi_uint8_array, (void **)&data, &data_bytes)) return throw_range(env, "md5-mb: data must be a Uint8Array");
  if (!typed_array(env, argv[2], napi_uint32_array, (void **)&offsets, &offset_count)) return throw_range(env, "md5-mb: offsets must be a Uint32Array");
  int64_t count, blocks;
  CHECK(napi_get_value_int64(env, argv[3], &count));
  CHECK(napi_get_value_int64(env, argv[4], &blocks));
  if (count < 0 || count > MAX_LANES || (size_t)count > offset_count || (size_t)count * 4 > state_words) return throw_range(env, "md5-mb: bad lane count");
  if (blocks < 0) return throw_range(env, "md5-mb: bad block count");
  const uint8_t *lane_data[MAX_LANES];
  for (int64_t i = 0; i < count; i++) {
    const uint64_t end = (uint64_t)offsets[i] + (uint64_t)blocks * 64;
    if (end > data_bytes) return throw_range(env, "md5-mb: a lane runs past the end of data");
    lane_data[i] = data + offsets[i];
  }
  if (count > 0 && blocks > 0) md5_mb_lanes(states, lane_data, (int)count, (size_t)blocks);
  return NULL;
}

static const char *impl_name(md5_mb_impl impl) {
  switch (impl) {
    case MD5_MB_AVX512: return "avx512";
    case MD5_MB_AVX2: return "avx2";
    default: return "scalar";
  }
}

static napi_value implementation(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(napi_create_string_utf8(env, impl_name(md5_mb_active()), NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value best(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(napi_create_string_utf8(env, impl_name(md5_mb_best()), NAPI_AUTO_LENGTH, &result));
  return result;
}

static napi_value force(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char name[16] = {0};
  size_t length = 0;
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &length) != napi_ok) return throw_range(env, "md5-mb: force(name)");
  md5_mb_impl impl;
  if (strcmp(name, "avx512") == 0) impl = MD5_MB_AVX512;
  else if (strcmp(name, "avx2") == 0) impl = MD5_MB_AVX2;
  else if (strcmp(name, "scalar") == 0) impl = MD5_MB_SCALAR;
  else if (strcmp(name, "auto") == 0) impl = MD5_MB_AUTO;
  else return throw_range(env, "md5-mb: unknown implementation");
  if (md5_mb_force(impl) != 0) return throw_range(env, "md5-mb: this CPU cannot run that implementation");
  return NULL;
}

NAPI_MODULE_INIT() {
  const napi_property_descriptor properties[] = {
      {"lanes", NULL, lanes, NULL, NULL, NULL, napi_default, NULL},
      {"implementation", NULL, implementation, NULL, NULL, NULL, napi_default, NULL},
      {"best", NULL, best, NULL, NULL, NULL, napi_default, NULL},
      {"force", NULL, force, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, sizeof properties / sizeof properties[0], properties) != napi_ok) return NULL;
  return exports;
}
