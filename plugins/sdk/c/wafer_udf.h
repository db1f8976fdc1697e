/* Helpers for wafer UDFs in C, over the bindings `wafer plugin bindings
 * --lang c` writes (transformer.h): options, columns, strings and row
 * results, so that a UDF's own code is its logic. Header-only. */
#ifndef WAFER_UDF_H
#define WAFER_UDF_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transformer.h"

typedef wafer_transform_types_value_t wafer_value_t;

/* A NUL-terminated, malloc'd copy of `s`. */
static inline char *wafer_cstr(const transformer_string_t *s) {
  char *c = malloc(s->len + 1);
  memcpy(c, s->ptr, s->len);
  c[s->len] = 0;
  return c;
}

/* `len` bytes at malloc'd `s` as a string the host takes ownership of. The
 * host frees only non-empty strings, so an empty one is freed here. */
static inline transformer_string_t wafer_string(char *s, size_t len) {
  if (len == 0) {
    free(s);
    s = NULL;
  }
  transformer_string_t t = {(uint8_t *)s, len};
  return t;
}

/* A string the host takes ownership of, printf-style. */
static inline transformer_string_t wafer_format(const char *fmt, ...) {
  va_list a, b;
  va_start(a, fmt);
  va_copy(b, a);
  int n = vsnprintf(NULL, 0, fmt, a);
  va_end(a);
  char *buf = malloc((size_t)n + 1);
  vsnprintf(buf, (size_t)n + 1, fmt, b);
  va_end(b);
  return wafer_string(buf, (size_t)n);
}

/* Room for `n` row results; NULL for none (the host frees only non-empty lists). */
static inline wafer_transform_types_result_list_value_row_error_t *wafer_rows(size_t n) {
  return n ? malloc(n * sizeof(wafer_transform_types_result_list_value_row_error_t)) : NULL;
}

/* The option `key` as a malloc'd C string, or NULL when unset. */
static inline char *wafer_option(const transformer_options_t *o, const char *key) {
  for (size_t i = 0; i < o->len; i++) {
    const transformer_string_t *k = &o->ptr[i].f0;
    if (k->len == strlen(key) && memcmp(k->ptr, key, k->len) == 0) return wafer_cstr(&o->ptr[i].f1);
  }
  return NULL;
}

/* The index of column `name`, or -1 with `err` set as the Rust SDK words it. */
static inline long wafer_column(const transformer_batch_t *b, const char *name,
                                transformer_string_t *err) {
  size_t cap = 1, n = 0;
  for (size_t i = 0; i < b->columns.len; i++) {
    const transformer_string_t *c = &b->columns.ptr[i];
    if (c->len == strlen(name) && memcmp(c->ptr, name, c->len) == 0) return (long)i;
    cap += c->len + 2;
  }
  char *cols = malloc(cap);
  cols[0] = 0;
  for (size_t i = 0; i < b->columns.len; i++) {
    if (i) n += (size_t)sprintf(cols + n, ", ");
    memcpy(cols + n, b->columns.ptr[i].ptr, b->columns.ptr[i].len);
    n += b->columns.ptr[i].len;
    cols[n] = 0;
  }
  *err = wafer_format("input column `%s` not in batch (columns: %s)", name, cols);
  free(cols);
  return -1;
}

/* The type names the Rust SDK's `Value::type_name` gives. */
static inline const char *wafer_type_name(const wafer_value_t *v) {
  static const char *names[] = {"null", "bool", "int64", "float64", "string", "bytes", "vector"};
  return v->tag < 7 ? names[v->tag] : "unknown";
}

/* Sets `ret` up for `n` row results under the one column `name` (the field
 * the `output` option names); the caller fills ret->rows.ptr[0..n]. */
static inline void wafer_output(transformer_output_t *ret, size_t n, const char *name) {
  ret->rows.len = n;
  ret->rows.ptr = wafer_rows(n);
  ret->columns.len = 1;
  ret->columns.ptr = malloc(sizeof(transformer_string_t));
  transformer_string_dup(&ret->columns.ptr[0], name);
}

/* Row results: one value, or an invalid-input error. */
static inline wafer_transform_types_result_list_value_row_error_t wafer_ok(wafer_value_t v) {
  wafer_transform_types_result_list_value_row_error_t r = {0};
  r.val.ok.ptr = malloc(sizeof(wafer_value_t));
  r.val.ok.ptr[0] = v;
  r.val.ok.len = 1;
  return r;
}

static inline wafer_transform_types_result_list_value_row_error_t wafer_invalid(
    transformer_string_t message) {
  wafer_transform_types_result_list_value_row_error_t r = {0};
  r.is_err = true;
  r.val.err.kind = WAFER_TRANSFORM_TYPES_ROW_ERROR_KIND_INVALID_INPUT;
  r.val.err.message = message;
  return r;
}

#endif
