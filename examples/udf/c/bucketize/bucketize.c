/* `bucketize` in C: the same UDF as plugins/builtin/bucketize (Rust), for the
 * cross-language test. Maps a number to the index of its bucket over sorted
 * boundaries, like `numpy.digitize(x, b, right=False)`.
 *
 * Options: `input` (numeric column; int, float or numeric text),
 * `boundaries` (an array of numbers or comma-separated text, strictly
 * increasing), `output`.
 *
 * Its errors read as the Rust plugin's do, word for word: numeric text is
 * trimmed and read with Rust's rules (strtod alone would take hex and
 * "nan(...)", and a C string would end at a NUL). */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <strings.h>

#include "wafer_udf.h"

static char *input, *output;
static double *bounds;
static size_t n_bounds;

/* Bytes in the character at s[0..n] when it is one Rust's `char::is_whitespace`
 * takes (Unicode White_Space, in UTF-8), else 0. */
static size_t space_at(const uint8_t *s, size_t n) {
  if (n >= 1 && (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r'))) return 1;
  if (n >= 2 && s[0] == 0xC2 && (s[1] == 0x85 || s[1] == 0xA0)) return 2;
  if (n < 3) return 0;
  if (s[0] == 0xE1 && s[1] == 0x9A && s[2] == 0x80) return 3; /* U+1680 */
  if (s[0] == 0xE2 && s[1] == 0x80 &&                          /* U+2000-200A, 2028, 2029, 202F */
      (s[2] <= 0x8A || s[2] == 0xA8 || s[2] == 0xA9 || s[2] == 0xAF)) return 3;
  if (s[0] == 0xE2 && s[1] == 0x81 && s[2] == 0x9F) return 3; /* U+205F */
  if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
  return 0;
}

/* `*s[0..*n]` without whitespace at either end, as Rust's `str::trim`. */
static void trim(const uint8_t **s, size_t *n) {
  for (size_t k; *n && (k = space_at(*s, *n));) *s += k, *n -= k;
  for (bool more = true; more && *n;) {
    more = false;
    for (size_t k = 1; k <= 3 && k <= *n && !more; k++)
      if (space_at(*s + *n - k, k) == k) *n -= k, more = true;
  }
}

/* Parses `s[0..n]`, trimmed, as Rust's `str::parse::<f64>` does; NULL, or why not. */
static const char *number(const uint8_t *s, size_t n, double *x) {
  trim(&s, &n);
  if (!n) return "cannot parse float from empty string";
  if (memchr(s, 0, n)) return "invalid float literal";
  transformer_string_t view = {(uint8_t *)s, n};
  char *t = wafer_cstr(&view);
  const char *p = t + (*t == '+' || *t == '-'), *why = NULL;
  double sign = *t == '-' ? -1.0 : 1.0;
  if (!strcasecmp(p, "inf") || !strcasecmp(p, "infinity")) {
    *x = sign * INFINITY;
  } else if (!strcasecmp(p, "nan")) {
    *x = NAN;
  } else {
    size_t digits = 0;
    for (; isdigit((unsigned char)*p); p++) digits++;
    if (*p == '.')
      for (p++; isdigit((unsigned char)*p); p++) digits++;
    if (digits && (*p == 'e' || *p == 'E')) {
      p += 1 + (p[1] == '+' || p[1] == '-');
      if (!isdigit((unsigned char)*p)) digits = 0;
      while (isdigit((unsigned char)*p)) p++;
    }
    if (!digits || *p) why = "invalid float literal";
    else *x = strtod(t, NULL);
  }
  free(t);
  return why;
}

/* Code points Rust's `{:?}` writes as `\u{..}` beyond the C0/C1 controls:
 * separators but the space, the format characters text tends to carry, and
 * the common combining marks (Rust escapes every Grapheme_Extend).
 * (Python's and JS's examples use the full Unicode categories; this list is
 * what a C UDF without Unicode tables can carry.) */
static const uint32_t hidden[][2] = {
    {0xA0, 0xA0},     {0xAD, 0xAD},     {0x300, 0x36F},   {0x600, 0x605},
    {0x61C, 0x61C},   {0x6DD, 0x6DD},   {0x70F, 0x70F},   {0x1680, 0x1680},
    {0x180E, 0x180E}, {0x2000, 0x200F}, {0x2028, 0x202F}, {0x205F, 0x2064},
    {0x2066, 0x206F}, {0x3000, 0x3000}, {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB},
};

/* The code point of the UTF-8 sequence at s[0..n] and its length. */
static uint32_t decode(const uint8_t *s, size_t n, size_t *len) {
  size_t k = s[0] < 0x80 ? 1 : s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
  if (k > n) k = 1;
  uint32_t c = k == 1 ? s[0] : s[0] & (0x7F >> k);
  for (size_t i = 1; i < k; i++) c = c << 6 | (s[i] & 0x3F);
  *len = k;
  return c;
}

/* `s[0..n]` quoted as Rust's `{:?}` does. Malloc'd. */
static char *quoted(const uint8_t *s, size_t n) {
  char *q = malloc(10 * n + 3), *o = q;
  *o++ = '"';
  for (size_t i = 0, k; i < n; i += k) {
    uint32_t c = decode(s + i, n - i, &k);
    const char *esc = c == '\t' ? "\\t" : c == '\r' ? "\\r" : c == '\n' ? "\\n"
                    : c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == 0 ? "\\0" : NULL;
    bool hide = c < 0x20 || (c >= 0x7F && c <= 0x9F);
    for (size_t r = 0; r < sizeof hidden / sizeof hidden[0]; r++)
      hide = hide || (c >= hidden[r][0] && c <= hidden[r][1]);
    if (esc) o += sprintf(o, "%s", esc);
    else if (hide) o += sprintf(o, "\\u{%x}", (unsigned)c);
    else memcpy(o, s + i, k), o += k;
  }
  *o++ = '"';
  *o = 0;
  return q;
}

static bool check_boundaries(transformer_string_t *err) {
  for (size_t i = 0; i < n_bounds; i++)
    if (!isfinite(bounds[i])) return *err = wafer_format("`boundaries` must be finite"), false;
  for (size_t i = 1; i < n_bounds; i++)
    if (bounds[i - 1] >= bounds[i])
      return *err = wafer_format("`boundaries` must be strictly increasing"), false;
  return true;
}

static bool parse_boundaries(const char *text, transformer_string_t *err) {
  n_bounds = 1;
  for (const char *c = text; *c; c++) n_bounds += *c == ',';
  bounds = realloc(bounds, n_bounds * sizeof(double));
  const char *start = text;
  for (size_t i = 0; i < n_bounds; i++) {
    const char *end = strchr(start, ',');
    const uint8_t *item = (const uint8_t *)start;
    size_t len = end ? (size_t)(end - start) : strlen(start);
    const char *why = number(item, len, &bounds[i]);
    if (why) {
      trim(&item, &len);
      char *q = quoted(item, len);
      *err = wafer_format("boundary %s: %s", q, why);
      free(q);
      return false;
    }
    if (end) start = end + 1;
  }
  return check_boundaries(err);
}

/* Boundaries as an array of numbers, or as comma-separated text. */
static bool read_boundaries(const transformer_config_t *config, transformer_string_t *err) {
  const wafer_option_value_t *v = wafer_option_value(config, "boundaries");
  if (!v) return *err = wafer_format("missing option `boundaries`"), false;
  if (v->tag != WAFER_TRANSFORM_TYPES_OPTION_VALUE_FLOATS) {
    char *text = wafer_option(config, "boundaries");
    bool ok = parse_boundaries(text, err);
    free(text);
    return ok;
  }
  n_bounds = v->val.floats.len;
  bounds = realloc(bounds, (n_bounds ? n_bounds : 1) * sizeof(double));
  memcpy(bounds, v->val.floats.ptr, n_bounds * sizeof(double));
  if (!n_bounds) return *err = wafer_format("`boundaries` is empty"), false;
  return check_boundaries(err);
}

bool exports_transformer_configure(transformer_config_t *config, transformer_string_t *err) {
  free(input), free(output);
  input = wafer_first(&config->inputs);
  output = wafer_first(&config->outputs);
  bool ok = input && output;
  if (!ok) *err = wafer_format("missing option `%s`", input ? "output" : "input");
  ok = ok && read_boundaries(config, err);
  transformer_config_free(config);
  return ok;
}

/* The number of boundaries <= x. */
static size_t upper_bound(double x) {
  size_t lo = 0, hi = n_bounds;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (bounds[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Rows a block of bucket_floats takes at once, and the most boundaries it
 * counts per row (past them, it searches them per value). */
enum { LANES = 32, FEW_BOUNDARIES = 32 };

/* Adds to out[0..rows] (zeroed) each number's bucket, as the Rust built-in's
 * `bucket_column`: for a few boundaries, a pass per boundary adds 1 to each
 * row at or above it, a block of rows at a time, with no branch, so clang
 * vectorises it (a binary search per value is a chain of dependent loads,
 * compares and mispredicted branches). A NaN gets 0: the caller fails it. */
static void bucket_floats(const double *x, size_t rows, int64_t *out) {
  size_t done = n_bounds > FEW_BOUNDARIES ? 0 : rows / LANES * LANES;
  for (size_t b = 0; b < n_bounds && done; b++) {
    double bound = bounds[b];
    for (size_t i = 0; i < done; i += LANES)
      /* Whole: a loop turn in Wasm pays an interruption check. */
#pragma clang loop unroll(full)
      for (size_t k = 0; k < LANES; k++) out[i + k] += x[i + k] >= bound;
  }
  for (size_t i = done; i < rows; i++) out[i] = (int64_t)upper_bound(x[i]);
}

/* Whether a row of x needs more than bucket_floats: a null or a NaN. */
static bool any_special(const wafer_column_t *x, const double *floats, size_t rows) {
  if (x->valid.is_some) return true;
  bool nan = false;
  for (size_t i = 0; i < rows; i++) nan |= isnan(floats[i]);
  return nan;
}

/* One cell's bucket in `*out` (false: null), or why the row fails. */
static const char *bucket(const wafer_value_t *cell, int64_t *out, bool *valid,
                          transformer_string_t *why) {
  double x;
  *valid = false;
  switch (cell->tag) {
    case WAFER_TRANSFORM_TYPES_VALUE_NULL: return NULL;
    case WAFER_TRANSFORM_TYPES_VALUE_INT64: x = (double)cell->val.int64; break;
    case WAFER_TRANSFORM_TYPES_VALUE_FLOAT64: x = cell->val.float64; break;
    case WAFER_TRANSFORM_TYPES_VALUE_TEXT: {
      const transformer_string_t *t = &cell->val.text;
      const char *e = number(t->ptr, t->len, &x);
      if (e) {
        char *q = quoted(t->ptr, t->len);
        *why = wafer_format("`%s` = %s is not a number: %s", input, q, e);
        free(q);
        return "failed";
      }
      break;
    }
    default:
      *why = wafer_format("`%s` must be a number, got %s", input, wafer_type_name(cell));
      return "failed";
  }
  if (isnan(x)) return *why = wafer_format("value is NaN"), "failed";
  *out = (int64_t)upper_bound(x), *valid = true;
  return NULL;
}

bool exports_transformer_transform(transformer_batch_t *batch, transformer_output_t *ret,
                                   transformer_batch_error_t *err) {
  const wafer_column_t *x = wafer_column(batch, input, err);
  if (!x) return transformer_batch_free(batch), false;
  size_t rows = batch->rows;
  wafer_column_t *out = wafer_output_column(ret, output, WAFER_COLUMN_INT64, rows);
  /* A float64 column is bucketed as the C array it is, its nulls and NaNs
   * (if any) then cell by cell like any other column's cells. */
  const double *floats = x->data.tag == WAFER_COLUMN_FLOAT64 ? x->data.val.float64.ptr : NULL;
  if (floats) bucket_floats(floats, rows, out->data.val.int64.ptr);
  bool special = !floats || any_special(x, floats, rows);
  for (size_t i = 0; special && i < rows; i++) {
    if (floats && wafer_valid(x, i) && !isnan(floats[i])) continue;
    out->data.val.int64.ptr[i] = 0; /* a null or failed row: a placeholder under the mask */
    wafer_value_t cell = wafer_cell(x, i);
    transformer_string_t why;
    bool valid;
    if (bucket(&cell, &out->data.val.int64.ptr[i], &valid, &why)) wafer_invalid(ret, i, why);
    if (!valid) wafer_set_null(out, i);
  }
  transformer_batch_free(batch);
  return true;
}
