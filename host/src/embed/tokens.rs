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
            TokenCounter::Estimate => text
                .chars()
                .map(units)
                .sum::<usize>()
                .div_ceil(UNITS_PER_TOKEN),
            TokenCounter::Exact(t) => t
                .encode_fast(text, false)
                .map(|e| e.len())
                // A tokenizer that fails on a text: fall back to the estimate.
                .unwrap_or_else(|_| TokenCounter::Estimate.count(text)),
        }
    }

    /// `text` cut into consecutive, non-empty pieces of at most `max` tokens
    /// each (one piece when it fits; a piece holds at least one character),
    /// with each piece's token count. The pieces join back to `text`.
    pub fn split<'a>(&self, text: &'a str, max: usize) -> Vec<(&'a str, usize)> {
        let max = max.max(1);
        match self {
            TokenCounter::Estimate => split_estimate(text, max),
            TokenCounter::Exact(t) => match t.encode(text, false) {
                Ok(enc) => {
                    let ends: Vec<usize> = enc.get_offsets().iter().map(|(_, e)| *e).collect();
                    split_at_token_ends(text, &ends, max)
                }
                Err(_) => split_estimate(text, max),
            },
        }
    }
}

fn split_estimate(text: &str, max: usize) -> Vec<(&str, usize)> {
    let budget = max * UNITS_PER_TOKEN;
    let mut pieces = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for (i, c) in text.char_indices() {
        let u = units(c);
        if acc + u > budget && i > start {
            pieces.push((&text[start..i], acc.div_ceil(UNITS_PER_TOKEN)));
            (start, acc) = (i, 0);
        }
        acc += u;
    }
    pieces.push((&text[start..], acc.div_ceil(UNITS_PER_TOKEN)));
    pieces
}

/// Cut after every `max`-th token, moved forward to a character boundary
/// (byte-level tokens can end inside a character); text no token covers
/// (e.g. trailing whitespace) stays with the piece before it.
fn split_at_token_ends<'a>(text: &'a str, ends: &[usize], max: usize) -> Vec<(&'a str, usize)> {
    let n = ends.len();
    let mut pieces: Vec<(&str, usize)> = Vec::new();
    let (mut start, mut taken) = (0, 0);
    for k in (max..n).step_by(max) {
        let mut cut = ends[k - 1].clamp(start, text.len());
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        if cut > start {
            pieces.push((&text[start..cut], k - taken));
            (start, taken) = (cut, k);
        }
    }
    match pieces.last_mut() {
        Some(last) if start == text.len() => last.1 += n - taken,
        _ => pieces.push((&text[start..], n - taken)),
    }
    pieces
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
        assert!(pieces.iter().map(|(_, n)| n).sum::<usize>() >= e.count(text));
        // Pure CJK text of a multiple of the limit: no empty piece.
        let cjk = e.split("狗粮很", 3);
        assert_eq!(cjk, vec![("狗粮", 3), ("很", 2)]);
    }

    #[test]
    fn token_ends_inside_characters_move_to_the_boundary() {
        // "é" is two bytes; a byte-level tokenizer may end a token after its first.
        let text = "aébc";
        let ends = [1, 2, 3, 4, 5];
        let pieces = split_at_token_ends(text, &ends, 2);
        assert_eq!(pieces, vec![("aé", 2), ("b", 2), ("c", 1)]);
        assert_eq!(
            split_at_token_ends("ab  ", &[1, 2], 1),
            vec![("a", 1), ("b  ", 1)]
        );
        assert_eq!(split_at_token_ends("ab", &[1, 2], 5), vec![("ab", 2)]);
    }
}
