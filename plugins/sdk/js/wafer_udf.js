// Plain-JavaScript UDFs for wafer (contract 0.2, columnar).
//
// A UDF is one function over one row: it gets the row's cells as an object
// of plain values (null, boolean, number, string, Uint8Array, Array of
// numbers) and the configuration `setup` returned, and returns the value of
// the output field. `udf` gives the `configure` and `transform` exports that
// componentize-qjs builds into a `wafer:transform/transformer` component
// (`columnUdf` takes a function over whole columns instead: one call per
// batch, for speed):
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
  if (typeof x === "number") return isInt(x) ? "int64" : "float64";
  if (typeof x === "string") return "string";
  if (x instanceof Uint8Array) return "bytes";
  if (Array.isArray(x)) return "vector";
  return typeof x;
}

// `x` stored as a float64 even when it is a whole number.
export function float(x) {
  return { tag: "float64", val: x };
}

// A WIT `value` (a cell of a mixed column) as a plain value.
export function toJs(value) {
  return value.tag === "null" ? null : value.val;
}

// `x` as a WIT `value`.
export function toWit(x) {
  if (x === null || x === undefined) return { tag: "null" };
  if (typeof x === "boolean") return { tag: "boolean", val: x };
  if (typeof x === "number") return isInt(x) ? { tag: "int64", val: x } : { tag: "float64", val: x };
  if (typeof x === "string") return { tag: "text", val: x };
  if (x instanceof Uint8Array) return { tag: "bytes", val: x };
  if (Array.isArray(x)) return { tag: "vector", val: x.map(Number) };
  if (typeof x === "object" && x.tag === "float64") return x;
  throw new TypeError(`a UDF returned ${typeName(x)}, which has no wafer value type`);
}

// Whole numbers beyond 2^53 (1e20, say) are floats that merely look whole.
function isInt(x) {
  return Number.isSafeInteger(x) && !Object.is(x, -0);
}

// A WIT column as an Array of plain cells, null where null.
export function columnCells(column, rows) {
  const d = column.data;
  let cells;
  if (d.tag === "vector") {
    const { dims, values } = d.val;
    cells = Array.from({ length: rows }, (_, i) => Array.from(values.slice(i * dims, (i + 1) * dims)));
  } else if (d.tag === "mixed") {
    cells = d.val.map(toJs);
  } else {
    cells = Array.from(d.val);
  }
  const valid = column.valid;
  return valid === null || valid === undefined ? cells : cells.map((x, i) => (valid[i] ? x : null));
}

// The column type of one output cell, or null where the cell is null.
function kindOf(x) {
  if (x === null || x === undefined) return null;
  if (typeof x === "boolean") return "boolean";
  if (typeof x === "number") return isInt(x) ? "int64" : "float64";
  if (typeof x === "string") return "text";
  if (x instanceof Uint8Array) return "bytes";
  if (Array.isArray(x)) return `vector:${x.length}`;
  if (typeof x === "object" && x.tag === "float64") return "float64";
  throw new TypeError(`a UDF returned ${typeName(x)}, which has no wafer value type`);
}

const ZERO = { boolean: false, int64: 0, float64: 0, text: "", bytes: new Uint8Array() };

// Plain cells (null where null) as a WIT column: typed when every non-null
// cell has one type (vectors one length), else mixed.
export function outputColumn(name, cells) {
  const kinds = new Set(cells.map(kindOf).filter((k) => k !== null));
  const valid = cells.every((x) => x !== null && x !== undefined) ? null : cells.map((x) => x !== null && x !== undefined);
  if (kinds.size === 1) {
    const [kind] = kinds;
    if (kind.startsWith("vector:") && kind !== "vector:0") {
      const dims = Number(kind.slice(7));
      const values = cells.flatMap((x) => (x === null || x === undefined ? new Array(dims).fill(0) : x.map(Number)));
      return { name, data: { tag: "vector", val: { dims, values } }, valid };
    }
    if (kind.startsWith("vector:")) return { name, data: { tag: "mixed", val: cells.map(toWit) }, valid: null };
    const plain = (x) => (x === null || x === undefined ? ZERO[kind] : typeof x === "object" && x.tag ? x.val : x);
    return { name, data: { tag: kind, val: cells.map(plain) }, valid };
  }
  return { name, data: { tag: "mixed", val: cells.map(toWit) }, valid: null };
}

// A float as the config file (and Rust) writes it: 1 as "1.0".
function floatText(x) {
  return Number.isInteger(x) && Math.abs(x) < 1e16 ? x.toFixed(1) : String(x);
}

// An option's value as text, as contract 0.1 passed options.
function optionText(value) {
  if (value.tag === "floats") return value.val.map(floatText).join(",");
  if (value.tag === "ints" || value.tag === "texts") return value.val.map(String).join(",");
  if (value.tag === "float64") return floatText(value.val);
  return String(value.val);
}

// The options object a `setup` gets: every option as text, then `input`
// (comma-separated), `output`, `llm` and `dimensions` unless set.
export function optionsOf(config) {
  const opts = Object.fromEntries(config.options.map(([k, v]) => [k, optionText(v)]));
  const standard = { input: config.inputs.join(",") };
  if (config.outputs.length) standard.output = config.outputs[0];
  if (config.llm !== null && config.llm !== undefined) standard.llm = config.llm;
  if (config.dimensions !== null && config.dimensions !== undefined) {
    standard.dimensions = String(config.dimensions);
  }
  for (const [k, v] of Object.entries(standard)) if (!(k in opts)) opts[k] = v;
  return opts;
}

// The `configure` and `transform` exports for the row function `fn(row, config)`.
// `config` is what `setup(options)` returned, or the options object itself.
// The output column is the `output` option; the `input` option's columns
// must be in every batch. A field whose `transform.fills` names more fields
// gets an object per row from `fn`, by field name (a missing name is null).
export function udf(fn, setup) {
  return columnUdf((columns, rows, config) => {
    const names = Object.keys(columns);
    const out = new Array(rows);
    for (let i = 0; i < rows; i++) {
      const row = {};
      for (const n of names) row[n] = columns[n][i];
      try {
        out[i] = fn(row, config);
      } catch (e) {
        if (!(e instanceof RowError)) throw e;
        out[i] = e;
      }
    }
    return out;
  }, setup);
}

// The exports for the column function `fn(columns, rows, config)`: one call
// per batch, for speed. `columns` maps each input column's name to an Array
// of its cells (plain values, null where null); `fn` returns an Array of one
// value per row, with a `RowError` in place of a value to fail that row.
export function columnUdf(fn, setup) {
  let state = null;
  function configure(config) {
    const opts = optionsOf(config);
    if (!("output" in opts)) throw "missing option `output`";
    let parsed;
    try {
      parsed = setup ? setup(opts) : opts;
    } catch (e) {
      throw String(e instanceof Error ? e.message : e);
    }
    const inputs = (opts.input ?? "").split(",").map((c) => c.trim()).filter((c) => c);
    // Fields past the first (`transform.fills`): `fn` answers an object per row.
    const outputs = config.outputs.length ? config.outputs : [opts.output];
    state = { outputs, inputs, config: parsed };
  }
  function transform(input) {
    if (state === null) throw { kind: "other", message: "transform before configure" };
    const names = input.columns.map((c) => c.name);
    for (const name of state.inputs) {
      if (!names.includes(name)) {
        const message = `input column \`${name}\` not in batch (columns: ${names.join(", ")})`;
        throw { kind: "invalid-input", message };
      }
    }
    const columns = {};
    for (const c of input.columns) columns[c.name] = columnCells(c, input.rows);
    const results = fn(columns, input.rows, state.config);
    if (results.length !== input.rows) {
      const message = `the UDF returned ${results.length} values for ${input.rows} rows`;
      throw { kind: "other", message };
    }
    const errors = [];
    const cells = results.map((x, i) => {
      if (!(x instanceof RowError)) return x;
      errors.push({ row: i, kind: x.kind, message: x.message });
      return null;
    });
    const { outputs } = state;
    if (outputs.length === 1) return { columns: [outputColumn(outputs[0], cells)], errors };
    for (const x of cells) {
      if (x === null || x === undefined) continue;
      if (typeof x !== "object" || Array.isArray(x) || !Object.keys(x).every((k) => outputs.includes(k))) {
        throw new TypeError(`a UDF filling ${outputs.join(", ")} must return an object of them per row`);
      }
    }
    const cell = (x, name) => (x !== null && x !== undefined && Object.hasOwn(x, name) ? x[name] : null);
    const answered = outputs.map((name) => outputColumn(name, cells.map((x) => cell(x, name))));
    return { columns: answered, errors };
  }
  return { configure, transform };
}
