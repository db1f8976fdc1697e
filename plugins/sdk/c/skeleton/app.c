/* The component glue: upper-cases the text column named by the option
 * `input` into the field `output`, one answer per row, so a bad row never
 * fails the others. Replace shout.c with your logic. */
#include "shout.h"
#include "wafer_udf.h"

static char *input, *output;

bool exports_transformer_configure(transformer_options_t *options, transformer_string_t *err) {
  free(input), free(output);
  input = wafer_option(options, "input");
  output = wafer_option(options, "output");
  transformer_options_free(options);
  if (!input) return *err = wafer_format("missing option `input`"), false;
  if (!output) return *err = wafer_format("missing option `output`"), false;
  return true;
}

bool exports_transformer_transform(transformer_batch_t *batch, transformer_output_t *ret,
                                   transformer_string_t *err) {
  long col = wafer_column(batch, input, err);
  if (col < 0) return transformer_batch_free(batch), false;
  wafer_output(ret, batch->rows.len, output);
  for (size_t i = 0; i < batch->rows.len; i++) {
    wafer_transform_types_list_value_t *row = &batch->rows.ptr[i];
    wafer_value_t *cell = (size_t)col < row->len ? &row->ptr[col] : NULL;
    wafer_value_t out = {.tag = WAFER_TRANSFORM_TYPES_VALUE_NULL};
    if (cell && cell->tag == WAFER_TRANSFORM_TYPES_VALUE_TEXT) {
      out.tag = WAFER_TRANSFORM_TYPES_VALUE_TEXT;
      size_t len = cell->val.text.len;
      out.val.text = wafer_string(shout((const char *)cell->val.text.ptr, len), len);
    } else if (cell && cell->tag != WAFER_TRANSFORM_TYPES_VALUE_NULL) {
      ret->rows.ptr[i] = wafer_invalid(
          wafer_format("expected text, got %s", wafer_type_name(cell)));
      continue;
    }
    ret->rows.ptr[i] = wafer_ok(out);
  }
  transformer_batch_free(batch);
  return true;
}
