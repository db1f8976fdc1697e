//! The in-process embedding backend: a sentence-transformers model run
//! inside the wafer process with candle (`[[llm]] provider = "local"`):
//! BERT-family weights from an HF-format folder, the model's
//! `tokenizer.json`, truncation at `max_seq_length`, the pooling its
//! `1_Pooling/config.json` names, and L2 normalisation — what
//! `SentenceTransformer.encode` does, so vectors match Python's. [`bert`] is
//! the forward pass; [`files`] gets a model's files (`wafer model pull`).

mod bert;
pub mod files;

use bert::Bert;
use bert::Config as BertConfig;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::utils::padding::pad_encodings;
use tokenizers::{Encoding, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// Why a model folder cannot be loaded or run; names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model folder {dir}: {file} is missing")]
    Missing { dir: PathBuf, file: &'static str },
    #[error("model folder {dir}: cannot read {file}: {message}")]
    Invalid {
        dir: PathBuf,
        file: &'static str,
        message: String,
    },
    #[error("model {dir}: inference failed: {0}", dir = .1.display())]
    Inference(String, PathBuf),
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: usize,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pooling {
    Mean,
    Cls,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(rename = "type")]
    kind: String,
}

/// Makes candle run its element-wise operations on the thread that asks for
/// them (`CANDLE_NUM_THREADS=1`), unless the user has set that variable.
///
/// By default candle runs large element-wise operations on a process-wide
/// pool of its own, one operation at a time behind a lock, with workers that
/// spin between operations. wafer already runs a model's passes side by side
/// on the model's `threads`, and that pool then only adds contention: on two
/// cores, two threads embedded about 90 sentences/s with it and 145-165
/// without it (`cargo bench --bench local_embed`).
///
/// # Safety
/// It sets an environment variable, so no other thread may exist yet (call
/// it first thing in `main`). candle reads the variable once, on first use.
pub unsafe fn run_candle_on_calling_threads() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        // SAFETY: the caller guarantees the process has one thread.
        unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
    }
}

/// A loaded model; `embed` may be called from many threads at once.
pub struct LocalModel {
    dir: PathBuf,
    bert: Bert,
    /// Truncates at `max_seq_length`; padding is per pass (`padding`).
    tokenizer: Tokenizer,
    /// Pads a pass's inputs to its longest.
    padding: PaddingParams,
    pooling: Pooling,
    normalize: bool,
    /// sentence-transformers lowercases inputs itself when its config says so.
    lowercase: bool,
    dims: usize,
    max_seq_length: usize,
    fingerprint: [u8; 32],
    threads: rayon::ThreadPool,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("dir", &self.dir)
            .field("dims", &self.dims)
            .field("max_seq_length", &self.max_seq_length)
            .finish_non_exhaustive()
    }
}

impl LocalModel {
    /// Load the model in `dir`, to run on `threads` inference threads.
    pub fn load(dir: &Path, threads: usize) -> Result<Self, ModelError> {
        let files = ModelFiles { dir };
        let config_bytes = files.read("config.json")?;
        let config: BertConfig =
            serde_json::from_slice(&config_bytes).map_err(|e| files.invalid("config.json", e))?;
        let weights = files.read("model.safetensors")?;
        let tokenizer_bytes = files.read("tokenizer.json")?;
        let st = files.optional_json::<SentenceBertConfig>("sentence_bert_config.json")?;
        let max_seq_length = st
            .as_ref()
            .map_or(config.max_position_embeddings, |c| c.max_seq_length)
            .min(config.max_position_embeddings);
        let lowercase = st.is_some_and(|c| c.do_lower_case);
        let pooling = files.pooling()?;
        let normalize = files.normalize()?;
        let (tokenizer, padding) = files.tokenizer(&tokenizer_bytes, max_seq_length)?;
        let mut h = Sha256::new();
        for bytes in [&weights, &tokenizer_bytes, &config_bytes] {
            h.update(Sha256::digest(bytes));
        }
        h.update(format!("{max_seq_length}\0{pooling:?}\0{normalize}\0{lowercase}").as_bytes());
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| files.invalid("model.safetensors", e))?;
        let bert = Bert::load(vb, &config).map_err(|e| files.invalid("model.safetensors", e))?;
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("wafer-embed-{i}"))
            .build()
            .map_err(|e| ModelError::Inference(e.to_string(), dir.to_path_buf()))?;
        Ok(LocalModel {
            dir: dir.to_path_buf(),
            bert,
            tokenizer,
            padding,
            pooling,
            normalize,
            lowercase,
            dims: config.hidden_size,
            max_seq_length,
            fingerprint: h.finalize().into(),
            threads,
        })
    }

    /// Vector length.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Tokens per input the model reads, its `[CLS]` and `[SEP]` included.
    pub fn max_seq_length(&self) -> usize {
        self.max_seq_length
    }

    /// Hash of everything that decides the vectors: weights, tokenizer,
    /// `config.json`, pooling, `max_seq_length`, normalisation, lowercasing.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    /// The tokenizer without truncation, for counting tokens.
    pub fn counting_tokenizer(&self) -> Tokenizer {
        let mut t = self.tokenizer.clone();
        t.with_truncation(None)
            .expect("no truncation is always valid");
        t
    }

    /// One vector per text, in order; the batch runs on this model's threads.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ModelError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        self.threads
            .install(|| self.forward(texts))
            .map_err(|e| ModelError::Inference(e, self.dir.clone()))
    }

    fn forward(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, String> {
        let inputs: Vec<String> = if self.lowercase {
            texts.iter().map(|t| t.to_lowercase()).collect()
        } else {
            texts.to_vec()
        };
        let encodings = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        // Passes run side by side on this model's threads: on two cores that
        // beat one pass at a time split across both (measured in the bench).
        let per_pass: Vec<Vec<Vec<f32>>> = passes(encodings, TOKENS_PER_PASS)
            .into_par_iter()
            .map(|mut pass| {
                pad_encodings(&mut pass, &self.padding).map_err(|e| format!("tokenizer: {e}"))?;
                self.pass(&pass).map_err(|e| e.to_string())
            })
            .collect::<Result<_, String>>()?;
        let mut vectors: Vec<Vec<f32>> = per_pass.into_iter().flatten().collect();
        if self.normalize {
            vectors.iter_mut().for_each(|v| super::normalize(v));
        }
        Ok(vectors)
    }

    /// Pooled vectors for inputs already padded to one length.
    fn pass(&self, enc: &[Encoding]) -> candle_core::Result<Vec<Vec<f32>>> {
        let (n, len) = (enc.len(), enc[0].len());
        let tensor = |f: &dyn Fn(&Encoding) -> &[u32]| {
            let flat: Vec<u32> = enc.iter().flat_map(|e| f(e).iter().copied()).collect();
            Tensor::from_vec(flat, (n, len), &Device::Cpu)
        };
        let mask = tensor(&|e| e.get_attention_mask())?;
        let hidden = self.bert.forward(
            &tensor(&|e| e.get_ids())?,
            &tensor(&|e| e.get_type_ids())?,
            &mask,
        )?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => {
                let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                let sum = hidden.broadcast_mul(&m)?.sum(1)?;
                let count = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                sum.broadcast_div(&count)?
            }
        };
        pooled.to_vec2::<f32>()
    }
}

/// Padded tokens per forward pass. On the quickstart reviews (one thread)
/// a batch of 32 (~1,200 tokens) as one pass ran 10-15 % slower than in
/// passes of 200-400: a smaller pass's activations stay in cache between a
/// layer's steps.
const TOKENS_PER_PASS: usize = 256;

/// Splits `encodings`, in order, into passes whose padded size (inputs ×
/// the longest) stays within `budget` tokens; a longer input runs alone.
fn passes(mut encodings: Vec<Encoding>, budget: usize) -> Vec<Vec<Encoding>> {
    let starts = pass_starts(encodings.iter().map(Encoding::len), budget);
    let mut passes: Vec<_> = starts
        .iter()
        .rev()
        .map(|&start| encodings.split_off(start))
        .collect();
    passes.reverse();
    passes
}

/// Where each pass begins, for inputs of token counts `lens`.
fn pass_starts(lens: impl IntoIterator<Item = usize>, budget: usize) -> Vec<usize> {
    let (mut starts, mut count, mut longest) = (Vec::new(), 0, 0);
    for (i, len) in lens.into_iter().enumerate() {
        let grown = longest.max(len);
        if count > 0 && (count + 1) * grown <= budget {
            (count, longest) = (count + 1, grown);
        } else {
            starts.push(i);
            (count, longest) = (1, len);
        }
    }
    starts
}

/// Reading one model folder's files, with errors that name them.
struct ModelFiles<'a> {
    dir: &'a Path,
}

impl ModelFiles<'_> {
    fn read(&self, file: &'static str) -> Result<Vec<u8>, ModelError> {
        std::fs::read(self.dir.join(file)).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ModelError::Missing {
                dir: self.dir.to_path_buf(),
                file,
            },
            _ => self.invalid(file, e),
        })
    }

    fn invalid(&self, file: &'static str, e: impl std::fmt::Display) -> ModelError {
        ModelError::Invalid {
            dir: self.dir.to_path_buf(),
            file,
            message: e.to_string(),
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, file: &'static str) -> Result<T, ModelError> {
        serde_json::from_slice(&self.read(file)?).map_err(|e| self.invalid(file, e))
    }

    fn optional_json<T: serde::de::DeserializeOwned>(
        &self,
        file: &'static str,
    ) -> Result<Option<T>, ModelError> {
        match self.json(file) {
            Ok(v) => Ok(Some(v)),
            Err(ModelError::Missing { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether to L2-normalise: as `modules.json` says (normalise when it is
    /// absent: wafer stores unit vectors). A module that would change the
    /// vectors in a way wafer does not run (Dense, for one) is refused.
    fn normalize(&self) -> Result<bool, ModelError> {
        const FILE: &str = "modules.json";
        let Some(modules) = self.optional_json::<Vec<ModuleEntry>>(FILE)? else {
            return Ok(true);
        };
        let known = [".Transformer", ".Pooling", ".Normalize"];
        if let Some(m) = modules
            .iter()
            .find(|m| !known.iter().any(|k| m.kind.ends_with(k)))
        {
            let msg = format!(
                "module {} is not supported (only Transformer, Pooling, Normalize)",
                m.kind
            );
            return Err(self.invalid(FILE, msg));
        }
        Ok(modules.iter().any(|m| m.kind.ends_with(".Normalize")))
    }

    /// Mean pooling unless `1_Pooling/config.json` asks for CLS; other modes are refused.
    fn pooling(&self) -> Result<Pooling, ModelError> {
        const FILE: &str = "1_Pooling/config.json";
        let Some(p) = self.optional_json::<PoolingConfig>(FILE)? else {
            return Ok(Pooling::Mean);
        };
        match (p.pooling_mode_mean_tokens, p.pooling_mode_cls_token) {
            _ if p.pooling_mode_max_tokens || p.pooling_mode_mean_sqrt_len_tokens => {
                Err(self.invalid(FILE, "only mean or CLS pooling is supported"))
            }
            (true, false) => Ok(Pooling::Mean),
            (false, true) => Ok(Pooling::Cls),
            _ => Err(self.invalid(FILE, "exactly one of mean or CLS pooling must be set")),
        }
    }

    /// The model's tokenizer set up as sentence-transformers runs it: cut at
    /// `max_seq_length` (its `tokenizer.json` often says 128) and padded only
    /// to the longest input of each batch.
    /// The tokenizer, truncating at `max_seq_length` and padding nothing, and
    /// the padding a forward pass applies to its inputs.
    fn tokenizer(
        &self,
        bytes: &[u8],
        max_seq_length: usize,
    ) -> Result<(Tokenizer, PaddingParams), ModelError> {
        const FILE: &str = "tokenizer.json";
        let mut t = Tokenizer::from_bytes(bytes).map_err(|e| self.invalid(FILE, e))?;
        let padding = PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id: t.get_padding().map_or(0, |p| p.pad_id),
            pad_token: t
                .get_padding()
                .map_or_else(|| "[PAD]".to_string(), |p| p.pad_token.clone()),
            ..PaddingParams::default()
        };
        t.with_padding(None);
        t.with_truncation(Some(TruncationParams {
            max_length: max_seq_length,
            ..TruncationParams::default()
        }))
        .map_err(|e| self.invalid(FILE, e))?;
        Ok((t, padding))
    }
}

#[cfg(test)]
mod tests {
    use super::pass_starts;

    #[test]
    fn passes_keep_padded_tokens_within_the_budget() {
        // Sorted by length, as the client sends them: 3 × 40, 2 × 40, then
        // one each, the inputs longer than the budget included.
        let lens = [30, 30, 40, 40, 40, 60, 200, 300];
        assert_eq!(pass_starts(lens, 128), [0, 3, 5, 6, 7]);
        // Unsorted: a pass pads to its longest so far.
        assert_eq!(pass_starts([100, 10, 10], 256), [0, 2]);
        assert_eq!(pass_starts([], 256), Vec::<usize>::new());
    }
}
