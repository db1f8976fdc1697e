/* `bucketize` in C: the same UDF as plugins/bucketize (Rust), for the
 * cross-language test. Maps a number to the index of its bucket over sorted
 * boundaries, like `numpy.digitize(x, b, right=False)`.
 *
 * Options: `input` (numeric column; int, float or numeric text),
 * `boundaries` (comma-separated, strictly increasing), `output`.
 *
 * Its errors read as the Rust plugin's do, word for word: numeric text is
 * read with Rust's grammar (strtod alone would take hex and "nan(...)"). */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <strings.h>

#include "wafer_udf.h"

static char *input, *output;
static double *bounds;
static size_t n_bounds;

/* `s[0..n]` without ASCII whitespace at either end, as a malloc'd C string. */
static char *trimmed(const uint8_t *s, size_t n) {
  while (n && isspace(s[0])) s++, n--;
  while (n && isspace(s[n - 1])) n--;
  transformer_string_t t = {(uint8_t *)s, n};
  return wafer_cstr(&t);
}

/* Parses `t` as Rust's `str::parse::<f64>` does; NULL, or why not. */
static const char *number(const char *t, double *x) {
  if (!*t) return "cannot parse float from empty string";
  const char *p = t + (*t == '+' || *t == '-');
  double sign = *t == '-' ? -1.0 : 1.0;
  if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity")) return *x = sign * INFINITY, NULL;
  if (!strcasecmp(p, "nan")) return *x = NAN, NULL;
  size_t digits = 0;
  for (; isdigit((unsigned char)*p); p++) digits++;
  if (*p == '.')
    for (p++; isdigit((unsigned char)*p); p++) digits++;
  if (digits && (*p == 'e' || *p == 'E')) {
    p += 1 + (p[1] == '+' || p[1] == '-');
    if (!isdigit((unsigned char)*p)) return "invalid float literal";
    while (isdigit((unsigned char)*p)) p++;
  }
  if (!digits || *p) return "invalid float literal";
  *x = strtod(t, NULL);
  return NULL;
}

/* `text` quoted as Rust's `{:?}` does, for the printable text rows hold. */
static char *quoted(const char *text) {
  char *q = malloc(2 * strlen(text) + 3), *o = q;
  *o++ = '"';
  for (const char *c = text; *c; c++) {
    if (*c == '"' || *c == '\\') *o++ = '\\';
    *o++ = *c;
  }
  *o++ = '"';
  *o = 0;
  return q;
}

static bool parse_boundaries(const char *text, transformer_string_t *err) {
  n_bounds = 1;
  for (const char *c = text; *c; c++) n_bounds += *c == ',';
  bounds = realloc(bounds, n_bounds * sizeof(double));
  const char *start = text;
  for (size_t i = 0; i < n_bounds; i++) {
    const char *end = strchr(start, ',');
    size_t len = end ? (size_t)(end - start) : strlen(start);
    char *item = trimmed((const uint8_t *)start, len);
    const char *why = number(item, &bounds[i]);
    if (why) {
      char *q = quoted(item);
      *err = wafer_format("boundary %s: %s", q, why);
      free(q), free(item);
      return false;
    }
    free(item);
    start = end + 1;
  }
  for (size_t i = 0; i < n_bounds; i++)
    if (!isfinite(bounds[i])) return *err = wafer_format("`boundaries` must be finite"), false;
  for (size_t i = 1; i < n_bounds; i++)
    if (bounds[i - 1] >= bounds[i])
      return *err = wafer_format("`boundaries` must be strictly increasing"), false;
  return true;
}

bool exports_transformer_configure(transformer_options_t *options, transformer_string_t *err) {
  static const char *keys[] = {"input", "output", "boundaries"};
  char *values[3];
  bool ok = true;
  for (int i = 0; i < 3; i++) {
    values[i] = wafer_option(options, keys[i]);
    if (ok && !values[i]) *err = wafer_format("missing option `%s`", keys[i]), ok = false;
  }
  ok = ok && parse_boundaries(values[2], err);
  free(input), free(output), free(values[2]);
  input = values[0], output = values[1];
  transformer_options_free(options);
  return ok;
}

/* One cell's bucket, or why the row fails. */
static wafer_transform_types_result_list_value_row_error_t bucket(const wafer_value_t *cell) {
  wafer_value_t out = {.tag = WAFER_TRANSFORM_TYPES_VALUE_NULL};
  double x;
  switch (cell->tag) {
    case WAFER_TRANSFORM_TYPES_VALUE_NULL: return wafer_ok(out);
    case WAFER_TRANSFORM_TYPES_VALUE_INT64: x = (double)cell->val.int64; break;
    case WAFER_TRANSFORM_TYPES_VALUE_FLOAT64: x = cell->val.float64; break;
    case WAFER_TRANSFORM_TYPES_VALUE_TEXT: {
      char *raw = wafer_cstr(&cell->val.text), *t = trimmed(cell->val.text.ptr, cell->val.text.len);
      const char *why = number(t, &x);
      transformer_string_t msg = {0};
      if (why) {
        char *q = quoted(raw);
        msg = wafer_format("`%s` = %s is not a number: %s", input, q, why);
        free(q);
      }
      free(raw), free(t);
      if (why) return wafer_invalid(msg);
      break;
    }
    default:
      return wafer_invalid(wafer_format("`%s` must be a number, got %s", input, wafer_type_name(cell)));
  }
  if (isnan(x)) return wafer_invalid(wafer_format("value is NaN"));
  size_t lo = 0, hi = n_bounds;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (bounds[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  out.tag = WAFER_TRANSFORM_TYPES_VALUE_INT64;
  out.val.int64 = (int64_t)lo;
  return wafer_ok(out);
}

bool exports_transformer_transform(transformer_batch_t *batch, transformer_output_t *ret,
                                   transformer_string_t *err) {
  long col = wafer_column(batch, input, err);
  if (col < 0) return transformer_batch_free(batch), false;
  size_t n = batch->rows.len;
  ret->rows.ptr = malloc(n * sizeof(*ret->rows.ptr) + 1);
  ret->rows.len = n;
  for (size_t i = 0; i < n; i++) {
    wafer_transform_types_list_value_t *row = &batch->rows.ptr[i];
    wafer_value_t null = {.tag = WAFER_TRANSFORM_TYPES_VALUE_NULL};
    ret->rows.ptr[i] = bucket((size_t)col < row->len ? &row->ptr[col] : &null);
  }
  ret->columns.ptr = malloc(sizeof(transformer_string_t));
  ret->columns.len = 1;
  transformer_string_dup(&ret->columns.ptr[0], output);
  transformer_batch_free(batch);
  return true;
}
