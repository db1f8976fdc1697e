"""`bucketize` in Python: the same UDF as plugins/builtin/bucketize (Rust), for the
cross-language test. Maps a number to the index of its bucket over sorted
boundaries, like `numpy.digitize(x, b, right=False)`.

Options: `input` (numeric column; int, float or numeric text), `boundaries`
(comma-separated, strictly increasing), `output`.

Its errors read as the Rust plugin's do, word for word: numeric text is
trimmed and read with Rust's rules (`float()` alone would take `1_000`).
"""

import bisect
import math
import re
import unicodedata

import wafer_udf
from wafer_udf import RowError


# What Rust's `str::trim` strips (Unicode White_Space); `str.strip()` also
# strips U+001C..U+001F, which Rust keeps.
RUST_WHITESPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + (
    "\u2028\u2029\u202f\u205f\u3000"
)

# The text Rust's `str::parse::<f64>` accepts; `float()` also takes `1_000`
# and digits of other scripts.
FLOAT = re.compile(r"[+-]?(?:inf|infinity|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)", re.I | re.A)

ESCAPES = {"\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"', "\0": "\\0"}


def number(text):
    """`text` trimmed and parsed as Rust's `str::parse::<f64>` does."""
    t = text.strip(RUST_WHITESPACE)
    if t == "":
        raise ValueError("cannot parse float from empty string")
    if not FLOAT.fullmatch(t):
        raise ValueError("invalid float literal")
    return float(t)


def quoted(text):
    """`text` quoted as Rust's `{:?}` does: the escapes, and `\\u{..}` for what
    Rust does not print (controls, format characters, separators but the
    space) and for combining marks (Rust's Grapheme_Extend, nearly)."""
    out = []
    for c in text:
        if c in ESCAPES:
            out.append(ESCAPES[c])
        elif unicodedata.category(c) in HIDDEN and c != " ":
            out.append(f"\\u{{{ord(c):x}}}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp", "Mn", "Me"}


def parse_boundaries(text):
    b = []
    for s in text.split(","):
        try:
            b.append(number(s))
        except ValueError as e:
            raise ValueError(f"boundary {quoted(s.strip())}: {e}")
    if any(not math.isfinite(x) for x in b):
        raise ValueError("`boundaries` must be finite")
    if any(x >= y for x, y in zip(b, b[1:])):
        raise ValueError("`boundaries` must be strictly increasing")
    return b


def setup(options):
    return options["input"], parse_boundaries(options["boundaries"])


def bucketize(row, config):
    column, boundaries = config
    x = row.get(column)
    if x is None:
        return None
    if isinstance(x, str):
        try:
            x = number(x)
        except ValueError as e:
            raise RowError(f"`{column}` = {quoted(x)} is not a number: {e}")
    elif isinstance(x, bool) or not isinstance(x, (int, float)):
        raise RowError(f"`{column}` must be a number, got {wafer_udf.TYPE_NAMES[type(x)]}")
    if math.isnan(x):
        raise RowError("value is NaN")
    return bisect.bisect_right(boundaries, float(x))


def bucketize_column(columns, rows, config):
    """The whole column at once: a float is bucketed inline, anything else
    (ints, text, null, NaN, junk) goes through the row function."""
    column, boundaries = config
    out = []
    for x in columns[column]:
        if type(x) is float and x == x:
            out.append(bisect.bisect_right(boundaries, x))
            continue
        try:
            out.append(bucketize({column: x}, config))
        except RowError as e:
            out.append(e)
    return out


# The column-at-a-time form: one Python call per batch (`wafer_udf.udf(bucketize,
# setup=setup)` would call `bucketize` once per row, and answer the same).
WitWorld = wafer_udf.column_udf(bucketize_column, setup=setup)
