//! The BERT encoder behind the local embedding model: the forward pass a
//! sentence-transformers model runs, laid out for throughput on a CPU.
//!
//! candle-transformers' `BertModel` computes the same thing, but a 1-thread
//! profile of it on the quickstart reviews spent 14 % in gemm packing its
//! linear layers' weights (it multiplies by a transposed view, which gemm
//! re-packs on every product) and 13 % in a scalar `erf` for the exact GELU.
//! Here each weight is stored transposed once, at load, so gemm reads it in
//! place (packing fell to 5 %); the query, key and value projections are one
//! product, with the attention scale folded into the query's weights; and
//! GELU uses a branch-free `erf` the compiler vectorises (2 %).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder};
use rayon::prelude::*;

/// What a checkpoint's `config.json` says of the encoder (Hugging Face's
/// `BertConfig`; keys the encoder does not use are ignored). Our own rather
/// than candle-transformers': that crate, every model of it built with
/// optimisations, cost the cold build more than a minute for this struct.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: HiddenAct,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    /// `"bert"`: tensor names may carry it as a prefix.
    #[serde(default)]
    pub model_type: Option<String>,
}

/// The feed-forward activation, spelled as in `config.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HiddenAct {
    Gelu,
    GeluApproximate,
    Relu,
}

/// A loaded BERT encoder.
pub struct Bert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    heads: usize,
    act: HiddenAct,
}

struct Embeddings {
    word: Embedding,
    position: Tensor,
    token_type: Embedding,
    norm: LayerNorm,
}

struct Layer {
    qkv: Dense,
    attn_out: Dense,
    attn_norm: LayerNorm,
    up: Dense,
    down: Dense,
    out_norm: LayerNorm,
}

/// `x · W + b` with `W` stored as (inputs, outputs), contiguous.
struct Dense {
    w: Tensor,
    bias: Tensor,
}

impl Bert {
    /// Load from a Hugging Face BERT checkpoint, with or without the
    /// `<model_type>.` prefix on its tensor names.
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        if !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
        {
            candle_core::bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size,
                config.num_attention_heads
            );
        }
        let vb = match &config.model_type {
            Some(prefix) if !vb.contains_tensor("embeddings.word_embeddings.weight") => {
                vb.pp(prefix)
            }
            _ => vb,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<Result<_>>()?;
        Ok(Bert {
            embeddings: Embeddings::load(vb.pp("embeddings"), config)?,
            layers,
            heads: config.num_attention_heads,
            act: config.hidden_act,
        })
    }

    /// Hidden states (batch, seq, hidden) for token ids, token type ids and
    /// attention mask, each (batch, seq) `u32`.
    pub fn forward(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let mut x = self.embeddings.forward(ids, types)?;
        // Added to the scores of padding keys: softmax then gives them 0.
        let mask_bias =
            ((1.0 - mask.to_dtype(DType::F32)?)? * f64::from(f32::MIN))?.reshape((b, 1, 1, s))?;
        for layer in &self.layers {
            x = layer.forward(&x, &mask_bias, (b, s, self.heads), self.act)?;
        }
        let hidden = x.dim(1)?;
        x.reshape((b, s, hidden))
    }
}

impl Embeddings {
    fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        let h = c.hidden_size;
        Ok(Embeddings {
            word: candle_nn::embedding(c.vocab_size, h, vb.pp("word_embeddings"))?,
            position: vb
                .pp("position_embeddings")
                .get((c.max_position_embeddings, h), "weight")?,
            token_type: candle_nn::embedding(c.type_vocab_size, h, vb.pp("token_type_embeddings"))?,
            norm: candle_nn::layer_norm(h, c.layer_norm_eps, vb.pp("LayerNorm"))?,
        })
    }

    /// (batch · seq, hidden).
    fn forward(&self, ids: &Tensor, types: &Tensor) -> Result<Tensor> {
        let (b, s) = ids.dims2()?;
        let h = self.position.dim(1)?;
        let x = (self.word.forward(&ids.flatten_all()?)?
            + self.token_type.forward(&types.flatten_all()?)?)?;
        let x = x
            .reshape((b, s, h))?
            .broadcast_add(&self.position.narrow(0, 0, s)?)?
            .reshape((b * s, h))?;
        self.norm.forward(&x)
    }
}

impl Layer {
    fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let norm = |name: &str| candle_nn::layer_norm(h, c.layer_norm_eps, vb.pp(name));
        let attn = vb.pp("attention.self");
        let mut qkv = ["query", "key", "value"]
            .iter()
            .map(|n| Dense::parts(&attn.pp(n), h, h))
            .collect::<Result<Vec<_>>>()?;
        // Scaling the query's weights scales the scores, with no extra pass.
        let scale = 1.0 / ((h / c.num_attention_heads) as f64).sqrt();
        qkv[0] = ((&qkv[0].0 * scale)?, (&qkv[0].1 * scale)?);
        Ok(Layer {
            qkv: Dense::join(qkv)?,
            attn_out: Dense::load(&vb.pp("attention.output.dense"), h, h)?,
            attn_norm: norm("attention.output.LayerNorm")?,
            up: Dense::load(&vb.pp("intermediate.dense"), h, i)?,
            down: Dense::load(&vb.pp("output.dense"), i, h)?,
            out_norm: norm("output.LayerNorm")?,
        })
    }

    /// `x` is (batch · seq, hidden); so is the result.
    fn forward(
        &self,
        x: &Tensor,
        mask_bias: &Tensor,
        (b, s, heads): (usize, usize, usize),
        act: HiddenAct,
    ) -> Result<Tensor> {
        let h = x.dim(1)?;
        let qkv = self
            .qkv
            .forward(x)?
            .reshape((b, s, 3, heads, h / heads))?
            .permute((2, 0, 3, 1, 4))?
            .contiguous()?;
        let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?);
        let scores = q.matmul(&k.t()?)?.broadcast_add(mask_bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((b * s, h))?;
        let x = self
            .attn_norm
            .forward(&(self.attn_out.forward(&context)? + x)?)?;
        let up = self.up.forward(&x)?;
        let up = match act {
            HiddenAct::Gelu => up.apply_op1_no_bwd(&GeluErf)?,
            HiddenAct::GeluApproximate => up.gelu()?,
            HiddenAct::Relu => up.relu()?,
        };
        self.out_norm.forward(&(self.down.forward(&up)? + x)?)
    }
}

impl Dense {
    /// A checkpoint's (outputs, inputs) weight and its bias.
    fn parts(vb: &VarBuilder, inputs: usize, outputs: usize) -> Result<(Tensor, Tensor)> {
        Ok((
            vb.get((outputs, inputs), "weight")?,
            vb.get(outputs, "bias")?,
        ))
    }

    fn load(vb: &VarBuilder, inputs: usize, outputs: usize) -> Result<Self> {
        Dense::join(vec![Dense::parts(vb, inputs, outputs)?])
    }

    /// Several projections of one input as one product; their outputs sit
    /// side by side in the order given.
    fn join(parts: Vec<(Tensor, Tensor)>) -> Result<Self> {
        let (ws, bs): (Vec<_>, Vec<_>) = parts.into_iter().unzip();
        Ok(Dense {
            // Transposed once here so that gemm reads it in place on every call.
            w: Tensor::cat(&ws, 0)?.t()?.contiguous()?,
            bias: Tensor::cat(&bs, 0)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.w)?.broadcast_add(&self.bias)
    }
}

/// GELU with the exact `erf`, as BERT's `"gelu"` is defined.
struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "wafer-gelu-erf"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (CpuStorage::F32(src), Some((start, end))) = (storage, layout.contiguous_offsets())
        else {
            candle_core::bail!("gelu: expected contiguous f32");
        };
        let src = &src[start..end];
        let mut dst = vec![0f32; src.len()];
        // Chunks big enough that rayon's overhead stays small next to them.
        dst.par_chunks_mut(1 << 14)
            .zip(src.par_chunks(1 << 14))
            .for_each(|(d, s)| gelu_erf(s, d));
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }
}

fn gelu_erf(src: &[f32], dst: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        // SAFETY: the CPU was just checked for both features.
        return unsafe { gelu_erf_avx2(src, dst) };
    }
    gelu_erf_portable(src, dst)
}

/// The same loop, compiled for AVX2 so it runs eight lanes at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_erf_avx2(src: &[f32], dst: &mut [f32]) {
    gelu_erf_portable(src, dst)
}

#[inline(always)]
fn gelu_erf_portable(src: &[f32], dst: &mut [f32]) {
    for (d, &x) in dst.iter_mut().zip(src) {
        *d = 0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `erf` in f32 as `x·P(x²)/Q(x²)` on [-4, 4], where f32 `erf` rounds to ±1
/// beyond: the rational approximation Eigen uses for float. Branch-free, so
/// it vectorises; within 5e-7 (a few f32 ulps) of the exact value.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: [f32; 7] = [
        -1.609_603_3e-2,
        -2.954_6e-3,
        -7.349_906_3e-4,
        -5.692_506_4e-5,
        -2.101_024e-6,
        2.770_681_4e-8,
        -2.726_142_3e-10,
    ];
    const Q: [f32; 5] = [
        -1.426_473_9e-2,
        -7.373_329e-3,
        -1.682_827e-3,
        -2.133_740_6e-4,
        -1.456_607_2e-5,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = P.iter().rev().fold(0.0, |acc, c| acc * x2 + c);
    let q = Q.iter().rev().fold(0.0, |acc, c| acc * x2 + c);
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_the_exact_function() {
        let worst = (-60_000..=60_000)
            .map(|i| i as f32 / 10_000.0)
            .map(|x| (f64::from(erf(x)) - libm::erf(f64::from(x))).abs())
            .fold(0.0, f64::max);
        assert!(worst < 5e-7, "worst |erf error| {worst}");
        // Beyond the clamp, ±1 to the same precision.
        assert!((erf(f32::INFINITY) - 1.0).abs() < 5e-7);
        assert!((erf(-1e30) + 1.0).abs() < 5e-7);
    }

    #[test]
    fn gelu_matches_its_definition_on_every_lane_and_the_tail() {
        // 37 values: four full AVX2 vectors and a remainder.
        let src: Vec<f32> = (0..37).map(|i| (i as f32 - 18.0) * 0.37).collect();
        let mut dst = vec![0.0; src.len()];
        gelu_erf(&src, &mut dst);
        for (x, y) in src.iter().zip(&dst) {
            let x = f64::from(*x);
            let want = 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
            assert!(
                (f64::from(*y) - want).abs() < 1e-6,
                "gelu({x}) = {y}, want {want}"
            );
        }
    }
}
