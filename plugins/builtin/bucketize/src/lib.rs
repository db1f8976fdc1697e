//! `bucketize`: an example custom UDF. Maps a number to the index of its
//! bucket over sorted boundaries, like `numpy.digitize(x, b, right=False)`:
//! with boundaries `[10, 50]`, `x < 10` is 0, `10 <= x < 50` is 1, `x >= 50` is 2.
//!
//! Options: `input` (numeric column; int, float or numeric text), `boundaries`
//! (an array of numbers, or comma-separated text; strictly increasing), `output`.
//!
//! The logic is plain Rust: unit-tested natively, and benchmarked natively
//! against the same code inside Wasm.

/// Parse and validate boundaries: finite and strictly increasing.
pub fn parse_boundaries(text: &str) -> Result<Vec<f64>, String> {
    let b: Vec<f64> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f64>()
                .map_err(|e| format!("boundary {:?}: {e}", s.trim()))
        })
        .collect::<Result<_, _>>()?;
    check_boundaries(b)
}

/// Validate boundaries: finite and strictly increasing.
pub fn check_boundaries(b: Vec<f64>) -> Result<Vec<f64>, String> {
    if b.is_empty() {
        return Err("`boundaries` is empty".into());
    }
    if b.iter().any(|x| !x.is_finite()) {
        return Err("`boundaries` must be finite".into());
    }
    if b.windows(2).any(|w| w[0] >= w[1]) {
        return Err("`boundaries` must be strictly increasing".into());
    }
    Ok(b)
}

/// Bucket index of `x`; `x` must not be NaN.
pub fn bucket(boundaries: &[f64], x: f64) -> i64 {
    boundaries.partition_point(|b| *b <= x) as i64
}

/// Rows a block of [`bucket_column`] and [`any_nan`] takes at once.
const LANES: usize = 32;
/// Past this many boundaries, [`bucket_column`] searches them per value.
const FEW_BOUNDARIES: usize = 32;

/// Bucket indices of a column of numbers (a NaN gets 0: callers fail it).
/// For a few boundaries, a pass per boundary adds 1 to each row at or above
/// it, a block of rows at a time: no branch and no dependency between rows
/// (LLVM vectorises it for Wasm SIMD; natively it stays scalar, branch-free),
/// and a block is enough work per loop turn to hide what Cranelift spends on
/// each (a binary search per value is a chain of dependent loads and
/// compares). Past a few dozen boundaries the search's log wins; the rows
/// after the last whole block are searched too.
pub fn bucket_column(boundaries: &[f64], xs: &[f64]) -> Vec<i64> {
    if boundaries.len() > FEW_BOUNDARIES {
        return xs.iter().map(|x| bucket(boundaries, *x)).collect();
    }
    let mut out = vec![0i64; xs.len()];
    let done = xs.len() / LANES * LANES;
    for b in boundaries {
        let blocks = out.chunks_exact_mut(LANES).zip(xs.chunks_exact(LANES));
        for (o, x) in blocks {
            for (o, x) in o.iter_mut().zip(x) {
                *o += i64::from(*x >= *b);
            }
        }
    }
    for (o, x) in out[done..].iter_mut().zip(&xs[done..]) {
        *o = bucket(boundaries, *x);
    }
    out
}

/// Whether any of `xs` is NaN, a block at a time with no early exit
/// inside one, so it vectorises.
pub fn any_nan(xs: &[f64]) -> bool {
    let blocks = xs.chunks_exact(LANES);
    let rest = blocks.remainder();
    let nan = |any, x: &f64| any | x.is_nan();
    blocks.fold(false, |any, b| b.iter().fold(any, nan)) || rest.iter().fold(false, nan)
}

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_like_digitize() {
        let b = [10.0, 50.0, 100.0];
        assert_eq!(bucket(&b, -1.0), 0);
        assert_eq!(bucket(&b, 9.99), 0);
        assert_eq!(bucket(&b, 10.0), 1);
        assert_eq!(bucket(&b, 49.0), 1);
        assert_eq!(bucket(&b, 100.0), 3);
        assert_eq!(bucket(&b, f64::INFINITY), 3);
    }

    #[test]
    fn rejects_bad_boundaries() {
        assert!(
            parse_boundaries("10, 5")
                .unwrap_err()
                .contains("increasing")
        );
        assert!(parse_boundaries("1, x").unwrap_err().contains("\"x\""));
        assert!(parse_boundaries("1, inf").is_err());
        assert_eq!(parse_boundaries(" 1, 2.5 ").unwrap(), vec![1.0, 2.5]);
    }

    #[test]
    fn a_column_buckets_as_each_value_does() {
        let xs: Vec<f64> = (0..77).map(|i| f64::from(i * 13 % 120) - 10.0).collect();
        for n in [1, 6, 32, 33, 100] {
            let b: Vec<f64> = (0..n)
                .map(|k| f64::from(k) * 100.0 / f64::from(n))
                .collect();
            for len in [0, 5, 8, 77] {
                let want: Vec<i64> = xs[..len].iter().map(|x| bucket(&b, *x)).collect();
                assert_eq!(
                    bucket_column(&b, &xs[..len]),
                    want,
                    "{n} boundaries, {len} rows"
                );
            }
        }
    }

    #[test]
    fn a_nan_anywhere_is_found_and_buckets_to_0() {
        let mut xs = vec![3.0; 77];
        assert!(!any_nan(&xs));
        for at in [0, 5, 31, 32, 40, 63, 64, 76] {
            xs[at] = f64::NAN;
            assert!(any_nan(&xs), "NaN at {at}");
            assert!(any_nan(&xs[at..at + 1]), "NaN alone");
            assert_eq!(bucket_column(&[1.0, 2.0], &xs)[at], 0, "NaN at {at}");
            xs[at] = 3.0;
        }
    }
}
