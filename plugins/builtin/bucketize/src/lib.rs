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

/// Bucket a whole column; `None` is a null cell and stays null.
pub fn bucket_all(boundaries: &[f64], xs: &[Option<f64>]) -> Vec<Result<Option<i64>, String>> {
    xs.iter()
        .map(|x| match x {
            None => Ok(None),
            Some(x) if x.is_nan() => Err("value is NaN".to_string()),
            Some(x) => Ok(Some(bucket(boundaries, *x))),
        })
        .collect()
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
    fn nulls_stay_null_and_nan_is_a_row_error() {
        let out = bucket_all(&[1.0], &[None, Some(f64::NAN), Some(2.0)]);
        assert_eq!(out[0], Ok(None));
        assert!(out[1].is_err());
        assert_eq!(out[2], Ok(Some(1)));
    }
}
