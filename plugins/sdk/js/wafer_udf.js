// Plain-JavaScript UDFs for wafer.
//
// A UDF is one function over one row: it gets the row's cells as an object
// of plain values (null, boolean, number, string, Uint8Array, Array of
// numbers) and the configuration `setup` returned, and returns the value of
// the output field. `udf` gives the `configure` and `transform` exports that
// componentize-qjs builds into a `wafer:transform/transformer` component:
//
//     import { udf } from "./wafer_udf.js";
//
//     function setup(options) { return Number(options.factor); }  // once per instance
//     function scale(row, factor) { return row.price * factor; }  // once per row
//
//     export const { configure, transform } = udf(scale, setup);
//
// A returned number is an int64 when it is a whole number within 2^53 and a
// float64 otherwise (JavaScript has one number type); return `float(x)` to
// store a whole number as a float64. Throw `RowError` to fail one row (its
// neighbours go on); throw anything from `setup` to refuse the options. Any
// other exception is a bug: it traps the instance, which fails the batch and
// is replaced.

export class RowError extends Error {
  // `kind`: "invalid-input" (the default), "embed-failed" or "other".
  constructor(message, kind = "invalid-input") {
    super(message);
    if (!["invalid-input", "embed-failed", "other"].includes(kind)) {
      throw new Error(`unknown row error kind ${kind}`);
    }
    this.kind = kind;
  }
}

// The names the Rust SDK's `Value::type_name` gives, so messages agree.
export function typeName(x) {
  if (x === null || x === undefined) return "null";
  if (typeof x === "boolean") return "bool";
  if (typeof x === "number") return Number.isSafeInteger(x) ? "int64" : "float64";
  if (typeof x === "string") return "string";
  if (x instanceof Uint8Array) return "bytes";
  if (Array.isArray(x)) return "vector";
  return typeof x;
}

// `x` stored as a float64 even when it is a whole number.
export function float(x) {
  return { tag: "float64", val: x };
}

export function toJs(value) {
  return value.tag === "null" ? null : value.val;
}

export function toWit(x) {
  if (x === null || x === undefined) return { tag: "null" };
  if (typeof x === "boolean") return { tag: "boolean", val: x };
  if (typeof x === "number") {
    // Whole numbers beyond 2^53 (1e20, say) are floats that merely look whole.
    const int = Number.isSafeInteger(x) && !Object.is(x, -0);
    return int ? { tag: "int64", val: x } : { tag: "float64", val: x };
  }
  if (typeof x === "string") return { tag: "text", val: x };
  if (x instanceof Uint8Array) return { tag: "bytes", val: x };
  if (Array.isArray(x)) return { tag: "vector", val: x.map(Number) };
  if (typeof x === "object" && x.tag === "float64") return x;
  throw new TypeError(`a UDF returned ${typeName(x)}, which has no wafer value type`);
}

// The `configure` and `transform` exports for the row function `fn(row, config)`.
// `config` is what `setup(options)` returned, or the options object itself.
// The output column is the `output` option; the `input` option's columns
// must be in every batch.
export function udf(fn, setup) {
  let state = null;
  function configure(options) {
    const opts = Object.fromEntries(options);
    if (!("output" in opts)) throw "missing option `output`";
    let config;
    try {
      config = setup ? setup(opts) : opts;
    } catch (e) {
      throw String(e instanceof Error ? e.message : e);
    }
    const inputs = (opts.input ?? "").split(",").map((c) => c.trim()).filter((c) => c);
    state = { output: opts.output, inputs, config };
  }
  function transform(input) {
    if (state === null) throw "transform before configure";
    const names = input.columns;
    for (const name of state.inputs) {
      if (!names.includes(name)) {
        throw `input column \`${name}\` not in batch (columns: ${names.join(", ")})`;
      }
    }
    const rows = input.rows.map((cells) => {
      const row = {};
      names.forEach((n, i) => (row[n] = toJs(cells[i])));
      try {
        return { tag: "ok", val: [toWit(fn(row, state.config))] };
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        return { tag: "err", val: { kind: e.kind, message: e.message } };
      }
    });
    return { columns: [state.output], rows };
  }
  return { configure, transform };
}
