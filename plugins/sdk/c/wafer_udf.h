/* Helpers for wafer UDFs in C (contract 0.2, columnar), over the bindings
 * `wafer plugin bindings --lang c` writes (transformer.h): options, input
 * columns read cell by cell or as the arrays they are, an output column
 * and row errors, so that a UDF's own code is its logic. Header-only.
 *
 * A batch's columns are C arrays: `col->data.val.float64.ptr[i]` for a
 * float64 column (`col->data.tag == WAFER_COLUMN_FLOAT64`), and so on; row
 * `i` is null where `!wafer_valid(col, i)`. `wafer_cell` reads any column,
 * mixed ones included, one cell at a time. */
#ifndef WAFER_UDF_H
#define WAFER_UDF_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "transformer.h"

typedef wafer_transform_types_value_t wafer_value_t;
typedef wafer_transform_types_column_t wafer_column_t;
typedef wafer_transform_types_option_value_t wafer_option_value_t;

#define WAFER_COLUMN_BOOLEAN WAFER_TRANSFORM_TYPES_COLUMN_DATA_BOOLEAN
#define WAFER_COLUMN_INT64 WAFER_TRANSFORM_TYPES_COLUMN_DATA_INT64
#define WAFER_COLUMN_FLOAT64 WAFER_TRANSFORM_TYPES_COLUMN_DATA_FLOAT64
#define WAFER_COLUMN_TEXT WAFER_TRANSFORM_TYPES_COLUMN_DATA_TEXT
#define WAFER_COLUMN_BYTES WAFER_TRANSFORM_TYPES_COLUMN_DATA_BYTES
#define WAFER_COLUMN_VECTOR WAFER_TRANSFORM_TYPES_COLUMN_DATA_VECTOR
#define WAFER_COLUMN_MIXED WAFER_TRANSFORM_TYPES_COLUMN_DATA_MIXED

/* Zeroes `n` bytes at `p` with Wasm's `memory.fill` (-mbulk-memory), which
 * wasmtime runs as the host's memset: wasi-libc's memset, which its calloc
 * calls, is plain C built without SIMD or bulk memory, a tenth of a
 * 1024-row `bucketize` call. Out of line, or clang folds malloc + memset
 * back into calloc. */
__attribute__((noinline)) static void wafer_zero(void *p, size_t n) {
  __builtin_memset(p, 0, n);
}

/* `n` zeroed items of `size` bytes; NULL for none (the host frees only
 * non-empty lists), or when they would not fit, as calloc. */
static inline void *wafer_alloc(size_t n, size_t size) {
  if (!n || (size && n > SIZE_MAX / size)) return NULL;
  void *p = malloc(n * size);
  if (p) wafer_zero(p, n * size);
  return p;
}

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

static inline int wafer_is(const transformer_string_t *s, const char *name) {
  return s->len == strlen(name) && memcmp(s->ptr, name, s->len) == 0;
}

/* The option `key` as the config file typed it, or NULL when unset. */
static inline const wafer_option_value_t *wafer_option_value(const transformer_config_t *c,
                                                             const char *key) {
  for (size_t i = 0; i < c->options.len; i++)
    if (wafer_is(&c->options.ptr[i].f0, key)) return &c->options.ptr[i].f1;
  return NULL;
}

/* `x` as the config file (and Rust) writes it: the shortest text that reads
 * back the same, with a decimal point when it has none ("1.0"). At most
 * 26 bytes. */
static inline int wafer_float_text(char *out, double x) {
  int n = 0;
  for (int p = 1; p <= 17; p++) {
    n = sprintf(out, "%.*g", p, x);
    if (strtod(out, NULL) == x || x != x) break;
  }
  if (!strpbrk(out, ".eEn")) n += sprintf(out + n, ".0");
  return n;
}

/* The option `key` as a malloc'd C string (numbers and flags written as the
 * config file writes them, arrays joined with commas), or NULL when unset. */
static inline char *wafer_option(const transformer_config_t *c, const char *key) {
  const wafer_option_value_t *v = wafer_option_value(c, key);
  if (!v) return NULL;
  size_t n = v->tag == WAFER_TRANSFORM_TYPES_OPTION_VALUE_FLOATS ? v->val.floats.len
           : v->tag == WAFER_TRANSFORM_TYPES_OPTION_VALUE_INTS   ? v->val.ints.len
           : v->tag == WAFER_TRANSFORM_TYPES_OPTION_VALUE_TEXTS  ? v->val.texts.len : 1;
  size_t cap = 32 * n + 1;
  if (v->tag == WAFER_TRANSFORM_TYPES_OPTION_VALUE_TEXT) cap += v->val.text.len;
  for (size_t i = 0; v->tag == WAFER_TRANSFORM_TYPES_OPTION_VALUE_TEXTS && i < n; i++)
    cap += v->val.texts.ptr[i].len;
  char *out = malloc(cap), *o = out;
  *o = 0;
  for (size_t i = 0; i < n; i++) {
    if (i) *o++ = ',', *o = 0;
    switch (v->tag) {
      case WAFER_TRANSFORM_TYPES_OPTION_VALUE_BOOLEAN:
        o += sprintf(o, "%s", v->val.boolean ? "true" : "false"); break;
      case WAFER_TRANSFORM_TYPES_OPTION_VALUE_INT64: o += sprintf(o, "%lld", (long long)v->val.int64); break;
      case WAFER_TRANSFORM_TYPES_OPTION_VALUE_FLOAT64: o += wafer_float_text(o, v->val.float64); break;
      case WAFER_TRANSFORM_TYPES_OPTION_VALUE_FLOATS: o += wafer_float_text(o, v->val.floats.ptr[i]); break;
      case WAFER_TRANSFORM_TYPES_OPTION_VALUE_INTS: o += sprintf(o, "%lld", (long long)v->val.ints.ptr[i]); break;
      case WAFER_TRANSFORM_TYPES_OPTION_VALUE_TEXT:
        memcpy(o, v->val.text.ptr, v->val.text.len), o += v->val.text.len; break;
      default:
        memcpy(o, v->val.texts.ptr[i].ptr, v->val.texts.ptr[i].len), o += v->val.texts.ptr[i].len;
    }
    *o = 0;
  }
  return out;
}

/* The first input column's or output field's name as a malloc'd C string, or NULL. */
static inline char *wafer_first(const transformer_list_string_t *names) {
  return names->len ? wafer_cstr(&names->ptr[0]) : NULL;
}

/* The column `name`, or NULL with `err` set as the Rust SDK words it. */
static inline const wafer_column_t *wafer_column(const transformer_batch_t *b, const char *name,
                                                 transformer_batch_error_t *err) {
  size_t cap = 1, n = 0;
  for (size_t i = 0; i < b->columns.len; i++) {
    if (wafer_is(&b->columns.ptr[i].name, name)) return &b->columns.ptr[i];
    cap += b->columns.ptr[i].name.len + 2;
  }
  char *cols = malloc(cap);
  cols[0] = 0;
  for (size_t i = 0; i < b->columns.len; i++) {
    if (i) n += (size_t)sprintf(cols + n, ", ");
    memcpy(cols + n, b->columns.ptr[i].name.ptr, b->columns.ptr[i].name.len);
    n += b->columns.ptr[i].name.len;
    cols[n] = 0;
  }
  err->kind = WAFER_TRANSFORM_TYPES_ERROR_KIND_INVALID_INPUT;
  err->message = wafer_format("input column `%s` not in batch (columns: %s)", name, cols);
  free(cols);
  return NULL;
}

/* Whether row `i` of `c` holds a value. */
static inline int wafer_valid(const wafer_column_t *c, size_t i) {
  return !c->valid.is_some || c->valid.val.ptr[i];
}

/* Row `i`'s cell, borrowed from the column (do not free it). */
static inline wafer_value_t wafer_cell(const wafer_column_t *c, size_t i) {
  wafer_value_t v = {.tag = WAFER_TRANSFORM_TYPES_VALUE_NULL};
  if (!wafer_valid(c, i)) return v;
  const wafer_transform_types_column_data_t *d = &c->data;
  switch (d->tag) {
    case WAFER_COLUMN_BOOLEAN: v.tag = WAFER_TRANSFORM_TYPES_VALUE_BOOLEAN, v.val.boolean = d->val.boolean.ptr[i]; break;
    case WAFER_COLUMN_INT64: v.tag = WAFER_TRANSFORM_TYPES_VALUE_INT64, v.val.int64 = d->val.int64.ptr[i]; break;
    case WAFER_COLUMN_FLOAT64: v.tag = WAFER_TRANSFORM_TYPES_VALUE_FLOAT64, v.val.float64 = d->val.float64.ptr[i]; break;
    case WAFER_COLUMN_TEXT: v.tag = WAFER_TRANSFORM_TYPES_VALUE_TEXT, v.val.text = d->val.text.ptr[i]; break;
    case WAFER_COLUMN_BYTES: v.tag = WAFER_TRANSFORM_TYPES_VALUE_BYTES, v.val.bytes = d->val.bytes.ptr[i]; break;
    case WAFER_COLUMN_VECTOR: {
      size_t dims = d->val.vector.dims;
      v.tag = WAFER_TRANSFORM_TYPES_VALUE_VECTOR;
      v.val.vector.ptr = d->val.vector.values.ptr + i * dims;
      v.val.vector.len = dims;
      break;
    }
    default: v = d->val.mixed.ptr[i];
  }
  return v;
}

/* The type names the Rust SDK's `Cell::type_name` gives. */
static inline const char *wafer_type_name(const wafer_value_t *v) {
  static const char *names[] = {"null", "bool", "int64", "float64", "string", "bytes", "vector"};
  return v->tag < 7 ? names[v->tag] : "unknown";
}

/* Sets `ret` up with one output column `name` of `rows` zeroed cells of type
 * `tag` (WAFER_COLUMN_BOOLEAN, _INT64, _FLOAT64 or _TEXT; NULL for any
 * other), no nulls and no errors; the caller fills
 * `col->data.val.<type>.ptr[0..rows]` and marks nulls with `wafer_set_null`. */
static inline wafer_column_t *wafer_output_column(transformer_output_t *ret, const char *name,
                                                  uint8_t tag, size_t rows) {
  memset(ret, 0, sizeof *ret);
  if (tag > WAFER_COLUMN_TEXT) return NULL;
  ret->columns.len = 1;
  ret->columns.ptr = calloc(1, sizeof(wafer_column_t));
  wafer_column_t *col = ret->columns.ptr;
  transformer_string_dup(&col->name, name);
  col->data.tag = tag;
  switch (tag) {
    case WAFER_COLUMN_BOOLEAN: col->data.val.boolean.ptr = wafer_alloc(rows, sizeof(bool)); break;
    case WAFER_COLUMN_INT64: col->data.val.int64.ptr = wafer_alloc(rows, sizeof(int64_t)); break;
    case WAFER_COLUMN_FLOAT64: col->data.val.float64.ptr = wafer_alloc(rows, sizeof(double)); break;
    default: col->data.val.text.ptr = wafer_alloc(rows, sizeof(transformer_string_t));
  }
  /* Every typed list is a pointer and a length; its zeroed cells are valid
   * placeholders (false, 0, 0.0, the empty string). */
  col->data.val.int64.len = rows;
  return col;
}

/* Row `i` of an output column is null (also what a failed row's cell should
 * be). The validity mask is made on the first null: a column without nulls
 * carries none. */
static inline void wafer_set_null(wafer_column_t *col, size_t i) {
  if (!col->valid.is_some) {
    size_t rows = col->data.val.int64.len;
    col->valid.is_some = true;
    col->valid.val.ptr = wafer_alloc(rows, sizeof(bool));
    col->valid.val.len = rows;
    for (size_t r = 0; r < rows; r++) col->valid.val.ptr[r] = true;
  }
  col->valid.val.ptr[i] = false;
}

/* Row `row` failed with `message` (the host takes ownership of it). */
static inline void wafer_row_error(transformer_output_t *ret, size_t row,
                                   wafer_transform_types_error_kind_t kind,
                                   transformer_string_t message) {
  size_t n = ret->errors.len;
  ret->errors.ptr = realloc(ret->errors.ptr, (n + 1) * sizeof ret->errors.ptr[0]);
  ret->errors.ptr[n].row = (uint32_t)row;
  ret->errors.ptr[n].kind = kind;
  ret->errors.ptr[n].message = message;
  ret->errors.len = n + 1;
}

static inline void wafer_invalid(transformer_output_t *ret, size_t row, transformer_string_t message) {
  wafer_row_error(ret, row, WAFER_TRANSFORM_TYPES_ERROR_KIND_INVALID_INPUT, message);
}

#endif
