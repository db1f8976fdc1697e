//! A sentence-transformers model run inside the wafer process with candle
//! (`[[llm]] provider = "local"`): BERT-family weights from an HF-format
//! folder, the model's `tokenizer.json`, truncation at `max_seq_length`, the
//! pooling its `1_Pooling/config.json` names, and L2 normalisation — what
//! `SentenceTransformer.encode` does, so vectors match Python's.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config as BertConfig};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

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

/// A loaded model; `embed` may be called from many threads at once.
pub struct LocalModel {
    dir: PathBuf,
    bert: BertModel,
    /// Truncates at `max_seq_length` and pads to the batch's longest input.
    tokenizer: Tokenizer,
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
        let tokenizer = files.tokenizer(&tokenizer_bytes, max_seq_length)?;
        let mut h = Sha256::new();
        for bytes in [&weights, &tokenizer_bytes, &config_bytes] {
            h.update(Sha256::digest(bytes));
        }
        h.update(format!("{max_seq_length}\0{pooling:?}\0{normalize}\0{lowercase}").as_bytes());
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
            .map_err(|e| files.invalid("model.safetensors", e))?;
        let bert =
            BertModel::load(vb, &config).map_err(|e| files.invalid("model.safetensors", e))?;
        let threads = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("wafer-embed-{i}"))
            .build()
            .map_err(|e| ModelError::Inference(e.to_string(), dir.to_path_buf()))?;
        Ok(LocalModel {
            dir: dir.to_path_buf(),
            bert,
            tokenizer,
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

    /// The tokenizer without truncation or padding, for counting tokens.
    pub fn counting_tokenizer(&self) -> Tokenizer {
        let mut t = self.tokenizer.clone();
        t.with_padding(None);
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
        let enc = self
            .tokenizer
            .encode_batch(inputs, true)
            .map_err(|e| format!("tokenizer: {e}"))?;
        let (n, len) = (enc.len(), enc[0].len());
        let tensor = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| {
            let flat: Vec<u32> = enc.iter().flat_map(|e| f(e).iter().copied()).collect();
            Tensor::from_vec(flat, (n, len), &Device::Cpu)
        };
        let run = || -> candle_core::Result<Tensor> {
            let ids = tensor(&|e| e.get_ids())?;
            let types = tensor(&|e| e.get_type_ids())?;
            let mask = tensor(&|e| e.get_attention_mask())?;
            let hidden = self.bert.forward(&ids, &types, Some(&mask))?;
            let pooled = match self.pooling {
                Pooling::Cls => hidden.narrow(1, 0, 1)?.squeeze(1)?,
                Pooling::Mean => {
                    let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
                    let sum = hidden.broadcast_mul(&m)?.sum(1)?;
                    let count = m.sum(1)?.clamp(1e-9f32, f32::MAX)?;
                    sum.broadcast_div(&count)?
                }
            };
            Ok(pooled)
        };
        let mut vectors = run()
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(|e| e.to_string())?;
        if self.normalize {
            vectors.iter_mut().for_each(|v| super::normalize(v));
        }
        Ok(vectors)
    }
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
    fn tokenizer(&self, bytes: &[u8], max_seq_length: usize) -> Result<Tokenizer, ModelError> {
        const FILE: &str = "tokenizer.json";
        let mut t = Tokenizer::from_bytes(bytes).map_err(|e| self.invalid(FILE, e))?;
        let pad_id = t.get_padding().map_or(0, |p| p.pad_id);
        let pad_token = t
            .get_padding()
            .map_or_else(|| "[PAD]".to_string(), |p| p.pad_token.clone());
        t.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            pad_id,
            pad_token,
            ..PaddingParams::default()
        }));
        t.with_truncation(Some(TruncationParams {
            max_length: max_seq_length,
            ..TruncationParams::default()
        }))
        .map_err(|e| self.invalid(FILE, e))?;
        Ok(t)
    }
}
