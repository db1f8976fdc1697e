//! `llm-embedding`: the PAI FeatureStore `LLMEmbedding` transformation. Reads
//! one text column and hands every non-empty text of the batch to the host's
//! `embed` in a single call; the host batches, retries and caches.
//!
//! Options: `input` (text column), `llm` (the `[[llm]]` name), `dimensions`
//! (optional; checked on every vector), `output` (the field name).

use wafer_plugin_sdk::{Batch, Options, Output, RowError, RowErrorKind, Transform, Value, embed};

struct LlmEmbedding {
    input: String,
    output: String,
    llm: String,
    dimensions: Option<usize>,
}

impl Transform for LlmEmbedding {
    fn configure(o: Options) -> Result<Self, String> {
        Ok(LlmEmbedding {
            input: o.require("input")?.to_string(),
            output: o.require("output")?.to_string(),
            llm: o.require("llm")?.to_string(),
            dimensions: o.parse("dimensions")?,
        })
    }

    fn transform(&self, input: Batch) -> Result<Output, String> {
        transform(self, input)
    }
}

fn transform(config: &LlmEmbedding, input: Batch) -> Result<Output, String> {
    let col = input.column(&config.input)?;
    // Rows that need an embedding, by position; the rest are answered now.
    let mut results: Vec<Option<Result<Value, RowError>>> = Vec::with_capacity(input.rows.len());
    let mut texts = Vec::new();
    let mut pending = Vec::new();
    for (i, row) in input.rows.into_iter().enumerate() {
        match row.into_iter().nth(col) {
            Some(Value::Null) | None => results.push(Some(Ok(Value::Null))),
            Some(Value::Text(t)) if t.trim().is_empty() => results.push(Some(Err(
                RowError::invalid("text is empty or only whitespace"),
            ))),
            Some(Value::Text(t)) => {
                results.push(None);
                texts.push(t);
                pending.push(i);
            }
            Some(other) => results.push(Some(Err(RowError::invalid(format!(
                "`{}` must be a string, got {}",
                config.input,
                other.type_name()
            ))))),
        }
    }
    if !texts.is_empty() {
        let vectors = embed(&config.llm, &texts);
        if vectors.len() != pending.len() {
            return Err(format!(
                "host returned {} embeddings for {} texts",
                vectors.len(),
                pending.len()
            ));
        }
        for (i, v) in pending.into_iter().zip(vectors) {
            results[i] = Some(check(config, v));
        }
    }
    let rows = results
        .into_iter()
        .map(|r| r.expect("every row answered"))
        .collect();
    Ok(wafer_plugin_sdk::single_column(&config.output, rows))
}

fn check(
    config: &LlmEmbedding,
    v: Result<Vec<f32>, wafer_plugin_sdk::EmbedError>,
) -> Result<Value, RowError> {
    use wafer_plugin_sdk::EmbedErrorKind as K;
    let v = v.map_err(|e| {
        let (kind, what) = match e.kind {
            // The API refused this text itself: fixing the row, not retrying, helps.
            K::InvalidInput => (RowErrorKind::InvalidInput, "not embeddable"),
            K::Unauthorized => (RowErrorKind::EmbedFailed, "unauthorized"),
            K::RateLimited => (RowErrorKind::EmbedFailed, "rate limited"),
            K::Timeout => (RowErrorKind::EmbedFailed, "timeout"),
            K::Unavailable => (RowErrorKind::EmbedFailed, "unavailable"),
            K::BadResponse => (RowErrorKind::EmbedFailed, "bad response"),
            K::UnknownLlm => (RowErrorKind::EmbedFailed, "unknown llm"),
        };
        RowError {
            kind,
            message: format!("{what}: {}", e.message),
        }
    })?;
    match config.dimensions {
        Some(d) if v.len() != d => Err(RowError {
            kind: RowErrorKind::EmbedFailed,
            message: format!("embedding has {} dimensions, expected {d}", v.len()),
        }),
        _ => Ok(Value::Vector(v)),
    }
}

wafer_plugin_sdk::export!(LlmEmbedding);
