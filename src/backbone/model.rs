//! `VideoText`: the reference backbone, a small analogue of UniVL.
//!
//! Text encoder (token + position embeddings, one encoder layer), video
//! encoder (a linear embedding of each frame, temporal positions, one
//! encoder layer), a cross-modal encoder (one layer over caption tokens
//! followed by frames), retrieval projections, and the heads the pretext
//! tasks need (masked-token logits, frame prediction, rotation classifier;
//! each optional). All parameters live in one flat [`ParamVec`] described
//! by a [`Layout`].

use super::{Dev, Layout, Net, ParamVec, Taped, D_MODEL, FF_WIDTH, ROTATIONS};
use crate::aux_task::Capability;
use crate::error::{Error, Result};
use crate::world::{FRAMES, FRAME_LEN, MAX_TOKENS, VOCAB_SIZE};
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Which optional heads a backbone has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneConfig {
    /// Masked-token logits (`heads.mlm`).
    pub mlm_head: bool,
    /// Masked-frame predictor (`heads.frame`).
    pub frame_head: bool,
    /// Rotation classifier (`heads.rotation`).
    pub rotation_head: bool,
}

impl Default for BackboneConfig {
    fn default() -> Self {
        BackboneConfig {
            mlm_head: true,
            frame_head: true,
            rotation_head: true,
        }
    }
}

impl BackboneConfig {
    /// The parameter layout of a backbone with this configuration.
    pub fn layout(&self) -> Layout {
        let d = D_MODEL;
        let mut l = Layout::new();
        let linear = |l: &mut Layout, name: &str, i: usize, o: usize| {
            l.push(format!("{name}.weight"), &[o, i]);
            l.push(format!("{name}.bias"), &[o]);
        };
        let layer = |l: &mut Layout, name: &str| {
            for p in ["q", "k", "v", "out"] {
                linear(l, &format!("{name}.attn.{p}"), d, d);
            }
            l.push(format!("{name}.norm1.weight"), &[d]);
            l.push(format!("{name}.norm1.bias"), &[d]);
            linear(l, &format!("{name}.ff1"), d, FF_WIDTH);
            linear(l, &format!("{name}.ff2"), FF_WIDTH, d);
            l.push(format!("{name}.norm2.weight"), &[d]);
            l.push(format!("{name}.norm2.bias"), &[d]);
        };
        l.push("text.token_embedding", &[VOCAB_SIZE, d]);
        l.push("text.position_embedding", &[MAX_TOKENS, d]);
        layer(&mut l, "text.layer");
        linear(&mut l, "video.frame_embedding", FRAME_LEN, d);
        l.push("video.position_embedding", &[FRAMES, d]);
        l.push("video.mask_embedding", &[d]);
        layer(&mut l, "video.layer");
        l.push("cross.type_embedding", &[2, d]);
        layer(&mut l, "cross.layer");
        linear(&mut l, "align.text_proj", d, d);
        linear(&mut l, "align.video_proj", d, d);
        if self.mlm_head {
            linear(&mut l, "heads.mlm", d, VOCAB_SIZE);
        }
        if self.frame_head {
            linear(&mut l, "heads.frame", d, d);
        }
        if self.rotation_head {
            linear(&mut l, "heads.rotation", d, ROTATIONS);
        }
        l
    }

    /// What a backbone with this configuration can serve.
    pub fn provides(&self) -> Vec<Capability> {
        let mut c = vec![
            Capability::TextEncoder,
            Capability::VideoEncoder,
            Capability::CrossEncoder,
            Capability::Retrieval,
        ];
        if self.mlm_head {
            c.push(Capability::MaskedTokenHead);
        }
        if self.frame_head {
            c.push(Capability::FrameHead);
        }
        if self.rotation_head {
            c.push(Capability::RotationHead);
        }
        c
    }
}

/// Turns on dfdx's buffer cache: within a step, the backward pass reuses
/// the forward pass's freed buffers instead of faulting in fresh pages (on
/// this CPU, page faults were a quarter of a step's time without it). The
/// cache keeps a buffer of every size it has seen, and sizes vary from step
/// to step (masked rows), so [`VideoText::release_buffers`] empties it after
/// each step.
fn enable_buffer_cache(dev: &Dev) {
    use dfdx::tensor::Cache;
    dev.enable_cache();
}

/// The reference video-text backbone; see the module docs.
#[derive(Debug, Clone)]
pub struct VideoText {
    dev: Dev,
    config: BackboneConfig,
    layout: Layout,
    params: ParamVec,
    /// Per block, the indices of its scalars in the flat vector (see [`Net::param`]).
    indices: Vec<Tensor<(usize,), usize, Dev>>,
    /// Calls of [`VideoText::release_buffers`].
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// How many steps the buffer cache may grow before it is emptied.
pub const RELEASE_EVERY: u64 = 16;

/// The flat-vector indices of every block of `layout`, on `dev`.
fn block_indices(dev: &Dev, layout: &Layout) -> Vec<Tensor<(usize,), usize, Dev>> {
    layout
        .blocks()
        .iter()
        .map(|p| {
            let n = p.block.len();
            dev.tensor_from_vec((p.offset..p.offset + n).collect(), (n,))
        })
        .collect()
}

impl VideoText {
    /// A freshly initialised backbone on the default device.
    pub fn new(config: BackboneConfig, seed: u64) -> VideoText {
        VideoText::with_device(crate::tensor::device(), config, seed)
    }

    /// A freshly initialised backbone on `dev`. Initialisation is drawn on
    /// the host from `seed` (same weights on every machine): linear weights
    /// uniform in ±1/√fan_in (PyTorch's default), embeddings uniform in
    /// ±0.1, biases 0, norm scales 1.
    pub fn with_device(dev: Dev, config: BackboneConfig, seed: u64) -> VideoText {
        enable_buffer_cache(&dev);
        let layout = config.layout();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut w = Vec::with_capacity(layout.num_params());
        for p in layout.blocks() {
            let name = &p.block.name;
            let n = p.block.len();
            if name.ends_with("norm1.weight") || name.ends_with("norm2.weight") {
                w.extend(std::iter::repeat(1.0).take(n));
            } else if name.ends_with(".bias") {
                w.extend(std::iter::repeat(0.0).take(n));
            } else if name.ends_with("embedding") {
                w.extend((0..n).map(|_| rng.gen_range(-0.1f32..0.1)));
            } else {
                let bound = 1.0 / (p.block.shape[1] as f32).sqrt();
                w.extend((0..n).map(|_| rng.gen_range(-bound..bound)));
            }
        }
        let params = ParamVec::from_vec(&dev, w);
        let indices = block_indices(&dev, &layout);
        VideoText {
            dev,
            config,
            layout,
            params,
            indices,
            calls: Default::default(),
        }
    }

    /// Assembles a backbone from parts (used by checkpoint loading).
    pub(crate) fn from_parts(
        dev: Dev,
        config: BackboneConfig,
        params: ParamVec,
    ) -> Result<VideoText> {
        enable_buffer_cache(&dev);
        let layout = config.layout();
        if params.len() != layout.num_params() {
            return Err(Error::Length {
                what: "backbone parameters".into(),
                expected: layout.num_params(),
                found: params.len(),
            });
        }
        let indices = block_indices(&dev, &layout);
        Ok(VideoText {
            dev,
            config,
            layout,
            params,
            indices,
            calls: Default::default(),
        })
    }

    /// The device.
    pub fn dev(&self) -> &Dev {
        &self.dev
    }

    /// The configuration.
    pub fn config(&self) -> &BackboneConfig {
        &self.config
    }

    /// Called after every step by [`crate::aux_task::TaskSet`]: frees the
    /// device's cached buffers every [`RELEASE_EVERY`] calls. Never emptied,
    /// the cache grew to 7 GB in a quick pretraining; emptied every step,
    /// a step was ~1.7x slower.
    pub fn release_buffers(&self) {
        use dfdx::tensor::Cache;
        let n = self
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % RELEASE_EVERY == RELEASE_EVERY - 1 {
            self.dev.empty_cache();
        }
    }

    /// The flat-vector indices of block number `i` of the layout.
    pub(crate) fn block_indices(&self, i: usize) -> &Tensor<(usize,), usize, Dev> {
        &self.indices[i]
    }

    /// Names, shapes and offsets of the parameters.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// What this backbone can serve.
    pub fn provides(&self) -> Vec<Capability> {
        self.config.provides()
    }

    /// Number of scalar parameters.
    pub fn num_params(&self) -> usize {
        self.layout.num_params()
    }

    /// The parameters `w`.
    pub fn params(&self) -> &ParamVec {
        &self.params
    }

    /// The parameters, mutably (for optimisers; keep the length).
    pub fn params_mut(&mut self) -> &mut ParamVec {
        &mut self.params
    }

    /// Replaces the parameters; errors on a wrong length or a non-finite value.
    pub fn set_params(&mut self, w: ParamVec) -> Result<()> {
        w.check("backbone parameters", self.num_params())?;
        self.params = w;
        Ok(())
    }

    /// `w <- w + alpha * v`, in place (e.g. `+ε v`, later `−ε v`).
    pub fn add_scaled(&mut self, alpha: f32, v: &ParamVec) {
        self.params.axpy(alpha, v);
    }

    /// A tape-free net at the current parameters.
    pub fn net(&self) -> Net<'_, super::Free> {
        Net::free(self, &self.params)
    }

    /// A tape-free net at parameters `w` (the model's own are untouched).
    pub fn net_at<'a>(&'a self, w: &ParamVec) -> Net<'a, super::Free> {
        Net::free(self, w)
    }

    /// A taped net at the current parameters.
    pub fn net_taped(&self) -> Net<'_, Taped> {
        Net::taped(self, &self.params)
    }

    /// A taped net at parameters `w`.
    pub fn net_taped_at<'a>(&'a self, w: &ParamVec) -> Net<'a, Taped> {
        Net::taped(self, w)
    }
}
