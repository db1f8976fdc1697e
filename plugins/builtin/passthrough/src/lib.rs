//! `passthrough`: publishes pre-extracted vectors as they are (the seed's
//! `transform: False`), after checking that each has the configured number of
//! dimensions and only finite values. A vector may arrive as a vector value or
//! as text such as `[0.1, 0.2]` (a CSV cell).
//!
//! Options: `input` (vector column), `dimensions` (optional), `output`.
//! The checks are plain Rust so they are unit-tested natively.

/// Parse a textual vector: comma-separated numbers, optionally in brackets.
pub fn parse_vector(text: &str) -> Result<Vec<f32>, String> {
    let t = text.trim();
    let inner = t
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(t)
        .trim();
    if inner.is_empty() {
        return Ok(Vec::new());
    }
    inner
        .split(',')
        .enumerate()
        .map(|(i, s)| {
            s.trim()
                .parse::<f32>()
                .map_err(|e| format!("element {i} ({:?}): {e}", s.trim()))
        })
        .collect()
}

/// Check dimensions and finiteness.
pub fn check_vector(v: &[f32], dimensions: Option<usize>) -> Result<(), String> {
    if let Some(d) = dimensions
        && v.len() != d
    {
        return Err(format!("vector has {} dimensions, expected {d}", v.len()));
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!("element {i} is {} (not finite)", v[i]));
    }
    Ok(())
}

#[cfg(target_arch = "wasm32")]
mod component;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bracketed_and_bare_lists() {
        assert_eq!(parse_vector("[1, 2.5,3]").unwrap(), vec![1.0, 2.5, 3.0]);
        assert_eq!(parse_vector(" 1,2 ").unwrap(), vec![1.0, 2.0]);
        assert_eq!(parse_vector("[]").unwrap(), Vec::<f32>::new());
    }

    #[test]
    fn parse_error_names_the_element() {
        let e = parse_vector("[1, x, 3]").unwrap_err();
        assert!(e.contains("element 1"), "{e}");
    }

    #[test]
    fn checks_dims_and_finiteness() {
        assert!(check_vector(&[1.0, 2.0], Some(2)).is_ok());
        assert!(check_vector(&[1.0, 2.0], None).is_ok());
        assert!(
            check_vector(&[1.0], Some(2))
                .unwrap_err()
                .contains("expected 2")
        );
        assert!(
            check_vector(&[1.0, f32::NAN], Some(2))
                .unwrap_err()
                .contains("element 1")
        );
        assert!(check_vector(&[f32::INFINITY], None).is_err());
    }
}
