//! `llm-embedding`: the PAI FeatureStore `LLMEmbedding` transformation. Reads
//! one text column and hands every non-empty text of the batch to the host's
//! `embed` in a single call; the host batches, retries and caches.
//!
//! Options: `input` (text column), `llm` (the `[[llm]]` name), `dimensions`
//! (optional; checked on every vector), `output` (the field name).

use wafer_plugin_sdk::{
    Batch, BatchError, Cell, Config, ErrorKind, Output, RowError, Transform, VectorBuilder, embed,
};

struct LlmEmbedding {
    input: String,
    output: String,
    llm: String,
    dimensions: Option<usize>,
}

impl Transform for LlmEmbedding {
    fn configure(c: Config) -> Result<Self, String> {
        Ok(LlmEmbedding {
            input: c.input()?.to_string(),
            output: c.output()?.to_string(),
            llm: c.llm.clone().ok_or("missing option `llm`")?,
            dimensions: c.dimensions.map(|d| d as usize),
        })
    }

    fn transform(&self, input: Batch) -> Result<Output, BatchError> {
        let column = input.column(&self.input)?;
        // Rows that need an embedding, by position; the rest are answered now.
        let mut texts = Vec::new();
        let mut pending = Vec::new();
        let mut errors = Vec::new();
        for (i, cell) in column.cells().enumerate() {
            match cell {
                Cell::Null => {}
                Cell::Text(t) if t.trim().is_empty() => {
                    errors.push(RowError::invalid(i, "text is empty or only whitespace"))
                }
                Cell::Text(t) => {
                    texts.push(t.to_string());
                    pending.push(i);
                }
                other => errors.push(RowError::invalid(
                    i,
                    format!(
                        "`{}` must be a string, got {}",
                        self.input,
                        other.type_name()
                    ),
                )),
            }
        }
        let vectors = if texts.is_empty() {
            Vec::new()
        } else {
            embed(&self.llm, &texts)
        };
        if vectors.len() != pending.len() {
            return Err(BatchError::other(format!(
                "host returned {} embeddings for {} texts",
                vectors.len(),
                pending.len()
            )));
        }
        let mut out = VectorBuilder::with_capacity(input.len(), self.dimensions);
        let mut vectors = pending.into_iter().zip(vectors).peekable();
        for i in 0..input.len() {
            let Some((_, v)) = vectors.next_if(|(at, _)| *at == i) else {
                out.push_null();
                continue;
            };
            let pushed = check(self, v).and_then(|v| {
                out.push(&v)
                    .map_err(|m| (ErrorKind::EmbedFailed, format!("embedding: {m}")))
            });
            if let Err((kind, message)) = pushed {
                errors.push(RowError::new(i, kind, message));
                out.push_null();
            }
        }
        Ok(Output::single(out.finish(&self.output), errors))
    }
}

fn check(
    config: &LlmEmbedding,
    v: Result<Vec<f32>, wafer_plugin_sdk::EmbedError>,
) -> Result<Vec<f32>, (ErrorKind, String)> {
    use wafer_plugin_sdk::EmbedErrorKind as K;
    let v = v.map_err(|e| {
        let (kind, what) = match e.kind {
            // The API refused this text itself: fixing the row, not retrying, helps.
            K::InvalidInput => (ErrorKind::InvalidInput, "not embeddable"),
            K::Unauthorized => (ErrorKind::EmbedFailed, "unauthorized"),
            K::RateLimited => (ErrorKind::EmbedFailed, "rate limited"),
            K::Timeout => (ErrorKind::EmbedFailed, "timeout"),
            K::Unavailable => (ErrorKind::EmbedFailed, "unavailable"),
            K::BadResponse => (ErrorKind::EmbedFailed, "bad response"),
            K::UnknownLlm => (ErrorKind::EmbedFailed, "unknown llm"),
        };
        (kind, format!("{what}: {}", e.message))
    })?;
    match config.dimensions {
        Some(d) if v.len() != d => Err((
            ErrorKind::EmbedFailed,
            format!("embedding has {} dimensions, expected {d}", v.len()),
        )),
        _ => Ok(v),
    }
}

wafer_plugin_sdk::export!(LlmEmbedding);
