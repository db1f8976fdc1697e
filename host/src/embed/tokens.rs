//! Token counting and the `long_input` policy: how many tokens a text costs,
//! and how a text over `max_input_tokens` is truncated or cut into chunks.
//! Exact with the model's `tokenizer.json`; otherwise a conservative estimate.

use std::path::Path;

/// Counts tokens, exactly (a Hugging Face tokenizer) or by estimate.
pub enum TokenCounter {
    /// One token per 3 ASCII characters and per 2 UTF-8 bytes of anything
    /// else (1.5 per CJK character), rounded up: above what byte-level BPE
    /// tokenizers (OpenAI, Qwen/DashScope) produce for ordinary text.
    Estimate,
    Exact(Box<tokenizers::Tokenizer>),
}

impl std::fmt::Debug for TokenCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenCounter::Estimate => "TokenCounter::Estimate",
            TokenCounter::Exact(_) => "TokenCounter::Exact",
        })
    }
}

/// Estimate units: an ASCII character is 2, a non-ASCII UTF-8 byte is 3; a token is 6.
fn units(c: char) -> usize {
    if c.is_ascii() { 2 } else { 3 * c.len_utf8() }
}
const UNITS_PER_TOKEN: usize = 6;

impl TokenCounter {
    pub fn from_file(path: &Path) -> Result<Self, String> {
        tokenizers::Tokenizer::from_file(path)
            .map(|t| TokenCounter::Exact(Box::new(t)))
            .map_err(|e| format!("cannot load tokenizer {}: {e}", path.display()))
    }

    pub fn count(&self, text: &str) -> usize {
        match self {
            TokenCounter::Estimate => self.token_ends(text).len(),
            TokenCounter::Exact(t) => t
                .encode_fast(text, false)
                .map(|e| e.len())
                // A tokenizer that fails on a text: fall back to the estimate.
                .unwrap_or_else(|_| TokenCounter::Estimate.count(text)),
        }
    }

    /// `text` cut into consecutive pieces of at most `max` tokens each (one
    /// piece when it fits), with each piece's token count.
    pub fn split<'a>(&self, text: &'a str, max: usize) -> Vec<(&'a str, usize)> {
        let ends = self.token_ends(text);
        if ends.len() <= max {
            return vec![(text, ends.len())];
        }
        let mut pieces: Vec<(&str, usize)> = Vec::new();
        let mut start = 0;
        for window in ends.chunks(max) {
            let end = *window.last().expect("chunks are non-empty");
            pieces.push((&text[start..end], window.len()));
            start = end;
        }
        // Trailing bytes no token covers (e.g. whitespace) join the last piece.
        if let Some(last) = pieces.last_mut() {
            let from = start - last.0.len();
            last.0 = &text[from..];
        }
        pieces
    }

    /// Byte offset where each token ends, on char boundaries, in order.
    fn token_ends(&self, text: &str) -> Vec<usize> {
        match self {
            TokenCounter::Estimate => {
                let mut ends = Vec::new();
                let mut acc = 0;
                for (i, c) in text.char_indices() {
                    acc += units(c);
                    // The surplus carries over, so the count is the units' total / 6, rounded up.
                    if acc >= UNITS_PER_TOKEN {
                        ends.push(i + c.len_utf8());
                        acc -= UNITS_PER_TOKEN;
                    }
                }
                if acc > 0 {
                    ends.push(text.len());
                }
                ends
            }
            TokenCounter::Exact(t) => match t.encode(text, false) {
                Ok(enc) => {
                    let mut ends: Vec<usize> = enc.get_offsets().iter().map(|(_, e)| *e).collect();
                    // Byte-level tokens can end inside a character; move to its end.
                    for e in &mut ends {
                        while *e < text.len() && !text.is_char_boundary(*e) {
                            *e += 1;
                        }
                    }
                    ends.dedup();
                    ends
                }
                Err(_) => TokenCounter::Estimate.token_ends(text),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_is_per_script() {
        let e = TokenCounter::Estimate;
        assert_eq!(e.count(""), 0);
        assert_eq!(e.count("abc"), 1);
        assert_eq!(e.count("abcd"), 2);
        assert_eq!(e.count("狗粮"), 3, "1.5 tokens per CJK character");
    }

    #[test]
    fn split_covers_the_text_in_pieces_within_the_limit() {
        let e = TokenCounter::Estimate;
        let text = "the quick brown fox jumps over the lazy dog, 狗粮很好 ";
        assert_eq!(e.split(text, 1000), vec![(text, e.count(text))]);
        let pieces = e.split(text, 4);
        assert!(pieces.len() > 1);
        assert!(pieces.iter().all(|(_, n)| *n <= 4), "{pieces:?}");
        let joined: String = pieces.iter().map(|(p, _)| *p).collect();
        assert_eq!(joined, text);
        assert_eq!(pieces.iter().map(|(_, n)| n).sum::<usize>(), e.count(text));
    }
}
