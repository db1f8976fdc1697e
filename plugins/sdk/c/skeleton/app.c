/* The component glue: upper-cases the text column named by the option
 * `input` into the field `output`, a column at a time; a bad row is listed
 * as an error (its cell null), so it never fails the others. Replace
 * shout.c with your logic. */
#include "shout.h"
#include "wafer_udf.h"

static char *input, *output;

bool exports_transformer_configure(transformer_config_t *config, transformer_string_t *err) {
  free(input), free(output);
  input = wafer_first(&config->inputs);
  output = wafer_first(&config->outputs);
  transformer_config_free(config);
  if (!input) return *err = wafer_format("missing option `input`"), false;
  if (!output) return *err = wafer_format("missing option `output`"), false;
  return true;
}

bool exports_transformer_transform(transformer_batch_t *batch, transformer_output_t *ret,
                                   transformer_batch_error_t *err) {
  const wafer_column_t *text = wafer_column(batch, input, err);
  if (!text) return transformer_batch_free(batch), false;
  wafer_column_t *out = wafer_output_column(ret, output, WAFER_COLUMN_TEXT, batch->rows);
  for (size_t i = 0; i < batch->rows; i++) {
    wafer_value_t cell = wafer_cell(text, i);
    if (cell.tag == WAFER_TRANSFORM_TYPES_VALUE_TEXT) {
      size_t len = cell.val.text.len;
      out->data.val.text.ptr[i] = wafer_string(shout((const char *)cell.val.text.ptr, len), len);
      continue;
    }
    if (cell.tag != WAFER_TRANSFORM_TYPES_VALUE_NULL)
      wafer_invalid(ret, i, wafer_format("expected text, got %s", wafer_type_name(&cell)));
    wafer_set_null(out, i);
  }
  transformer_batch_free(batch);
  return true;
}
