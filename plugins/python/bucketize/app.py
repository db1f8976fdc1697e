"""`bucketize` in Python: the same UDF as plugins/bucketize (Rust), for the
cross-language test. Maps a number to the index of its bucket over sorted
boundaries, like `numpy.digitize(x, b, right=False)`.

Options: `input` (numeric column; int, float or numeric text), `boundaries`
(comma-separated, strictly increasing), `output`.

Its errors read as the Rust plugin's do, word for word. One difference is
Python's: `float()` also reads text Rust's parser refuses, such as `1_000`
or digits of other scripts.
"""

import bisect
import json
import math

import wafer_udf
from wafer_udf import RowError


def number(text):
    """`float(text.strip())`, failing with the message Rust's parser gives."""
    try:
        return float(text.strip())
    except ValueError:
        empty = text.strip() == ""
        raise ValueError("cannot parse float from empty string" if empty else "invalid float literal")


def quoted(text):
    """`text` quoted as Rust's `{:?}` does, for the printable text rows hold."""
    return json.dumps(text, ensure_ascii=False)


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


WitWorld = wafer_udf.udf(bucketize, setup=setup)
