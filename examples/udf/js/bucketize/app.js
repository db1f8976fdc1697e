// `bucketize` in JavaScript: the same UDF as plugins/builtin/bucketize (Rust), for
// the cross-language test. Maps a number to the index of its bucket over
// sorted boundaries, like `numpy.digitize(x, b, right=False)`.
//
// Options: `input` (numeric column; int, float or numeric text),
// `boundaries` (comma-separated, strictly increasing), `output`.
//
// Its errors read as the Rust plugin's do, word for word: numeric text is
// trimmed and read with Rust's rules, not `Number()` (which reads "" as 0).

import { RowError, columnUdf, typeName } from "./wafer_udf.js";

const FLOAT = /^[+-]?(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$/i;

// What Rust's `str::trim` strips (Unicode White_Space); `String.trim` also
// strips U+FEFF, which Rust keeps.
const WS = "[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]";
const TRIM = new RegExp(`^${WS}+|${WS}+$`, "g");

const ESCAPES = { "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "\0": "\\0" };

// `text` trimmed and parsed as Rust's `str::parse::<f64>` does.
function number(text) {
  const t = text.replace(TRIM, "");
  if (t === "") throw new Error("cannot parse float from empty string");
  if (!FLOAT.test(t)) throw new Error("invalid float literal");
  const sign = t.startsWith("-") ? -1 : 1;
  const bare = t.replace(/^[+-]/, "").toLowerCase();
  if (bare === "inf" || bare === "infinity") return sign * Infinity;
  if (bare === "nan") return NaN;
  return Number(t);
}

// What Rust's `{:?}` writes as `\u{..}`: controls, format characters,
// separators but the space, and combining marks (Grapheme_Extend).
const HIDDEN = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zs}\p{Zl}\p{Zp}\p{Grapheme_Extend}]$/u;

// `text` quoted as Rust's `{:?}` does.
function quoted(text) {
  let out = "";
  for (const c of text) {
    if (c in ESCAPES) out += ESCAPES[c];
    else if (c !== " " && HIDDEN.test(c)) out += `\\u{${c.codePointAt(0).toString(16)}}`;
    else out += c;
  }
  return `"${out}"`;
}

function parseBoundaries(text) {
  const b = text.split(",").map((s) => {
    try {
      return number(s);
    } catch (e) {
      throw new Error(`boundary ${quoted(s.replace(TRIM, ""))}: ${e.message}`);
    }
  });
  if (b.some((x) => !Number.isFinite(x))) throw new Error("`boundaries` must be finite");
  if (b.some((x, i) => i > 0 && b[i - 1] >= x)) {
    throw new Error("`boundaries` must be strictly increasing");
  }
  return b;
}

function setup(options) {
  for (const key of ["input", "boundaries"]) {
    if (!(key in options)) throw new Error(`missing option \`${key}\``);
  }
  return { column: options.input, boundaries: parseBoundaries(options.boundaries) };
}

// The number of boundaries <= x (Python's bisect_right).
export function bucketize(row, { column, boundaries }) {
  let x = row[column] ?? null;
  if (x === null) return null;
  if (typeof x === "string") {
    try {
      x = number(x);
    } catch (e) {
      throw new RowError(`\`${column}\` = ${quoted(x)} is not a number: ${e.message}`);
    }
  } else if (typeof x !== "number") {
    throw new RowError(`\`${column}\` must be a number, got ${typeName(x)}`);
  }
  if (Number.isNaN(x)) throw new RowError("value is NaN");
  return bisect(boundaries, x);
}

// The number of boundaries <= x.
function bisect(boundaries, x) {
  let lo = 0;
  let hi = boundaries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (boundaries[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// The whole column at once: a number is bucketed inline, anything else
// (text, null, NaN, junk) goes through the row function.
export function bucketizeColumn(columns, rows, config) {
  return columns[config.column].map((x) => {
    if (typeof x === "number" && x === x) return bisect(config.boundaries, x);
    try {
      return bucketize({ [config.column]: x }, config);
    } catch (e) {
      if (e instanceof RowError) return e;
      throw e;
    }
  });
}

// The column-at-a-time form: one call per batch (`udf(bucketize, setup)`
// would call `bucketize` once per row, and answer the same).
export const { configure, transform } = columnUdf(bucketizeColumn, setup);
