//! `VideoText`: the reference backbone, a small analogue of UniVL.
//!
//! Text encoder (token + position embeddings, one encoder layer), video
//! encoder (a linear embedding of each frame, temporal positions, one
//! encoder layer), a cross-modal encoder (one layer over caption tokens
//! followed by frames), retrieval projections, and the heads the pretext
//! tasks need (masked-token logits, frame prediction, rotation classifier;
//! each optional). Every token representation is `width` wide
//! ([`BackboneConfig::width`], 32 by default), with [`super::HEADS`]
//! attention heads and feed-forward layers twice as wide. All parameters
//! live in one flat [`ParamVec`] described by a [`Layout`].

use super::net::VtNet;
use super::world::{FRAMES, FRAME_LEN, MAX_TOKENS, VOCAB_SIZE};
use super::{HEADS, ROTATIONS};
use crate::backbone::{Backbone, BlockIndices, BufferCache, Free, Layout, Net, PartId, TapedNet};
use crate::error::{Error, Result};
use crate::tensor::Dev;
use crate::tensor::ParamVec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// The width a backbone has unless its settings say otherwise (files
/// written before the width was a setting have this one).
pub const DEFAULT_WIDTH: usize = 32;
/// The largest `width` [`BackboneConfig::validate`] accepts.
pub const MAX_WIDTH: usize = 512;

/// A backbone's width and which optional heads it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackboneConfig {
    /// Width of every token representation (`d_model`): a multiple of
    /// [`HEADS`]; each feed-forward layer is `2 * width` wide.
    pub width: usize,
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
            width: DEFAULT_WIDTH,
            mlm_head: true,
            frame_head: true,
            rotation_head: true,
        }
    }
}

impl BackboneConfig {
    /// Errors, naming `backbone.width`, on a width of 0, past
    /// [`MAX_WIDTH`], or not a multiple of the [`HEADS`] attention heads.
    pub fn validate(&self) -> Result<()> {
        let w = self.width;
        if w == 0 || w > MAX_WIDTH || w % HEADS != 0 {
            return Err(Error::InvalidSetting {
                field: "backbone.width".into(),
                value: w.to_string(),
                reason: format!(
                    "must be a multiple of the {HEADS} attention heads in {HEADS}..={MAX_WIDTH}"
                ),
            });
        }
        Ok(())
    }

    /// The parameter layout of a backbone with this configuration.
    pub fn layout(&self) -> Layout {
        let d = self.width;
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
            linear(l, &format!("{name}.ff1"), d, 2 * d);
            linear(l, &format!("{name}.ff2"), 2 * d, d);
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
}

/// The kind video-text backbone files record.
pub const KIND: &str = "video_text";

/// The reference video-text backbone; see the module docs.
#[derive(Debug, Clone)]
pub struct VideoText {
    dev: Dev,
    config: BackboneConfig,
    layout: Layout,
    params: ParamVec,
    indices: BlockIndices,
    /// Last: fields drop in order, and this one empties the device's cache
    /// of the buffers the others gave back.
    cache: BufferCache,
}

impl VideoText {
    /// A freshly initialised backbone on the default device. Panics on
    /// settings that [`BackboneConfig::validate`] refuses (the registry's
    /// builder checks them first and returns the error).
    pub fn new(config: BackboneConfig, seed: u64) -> VideoText {
        VideoText::with_device(crate::tensor::device(), config, seed)
    }

    /// A freshly initialised backbone on `dev`. Initialisation is drawn on
    /// the host from `seed` (same weights on every machine): linear weights
    /// uniform in ±1/√fan_in (PyTorch's default), embeddings uniform in
    /// ±0.1, biases 0, norm scales 1.
    pub fn with_device(dev: Dev, config: BackboneConfig, seed: u64) -> VideoText {
        if let Err(e) = config.validate() {
            panic!("{e}");
        }
        let cache = BufferCache::enable(&dev);
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
        let indices = BlockIndices::new(&dev, &layout);
        VideoText {
            dev,
            config,
            layout,
            params,
            indices,
            cache,
        }
    }

    /// The device.
    pub fn dev(&self) -> &Dev {
        &self.dev
    }

    /// Its width and which optional heads it has.
    pub fn settings(&self) -> &BackboneConfig {
        &self.config
    }

    /// The flat-vector indices of every block.
    pub(super) fn indices(&self) -> &BlockIndices {
        &self.indices
    }

    /// Names, shapes and offsets of the parameters.
    pub(super) fn layout_ref(&self) -> &Layout {
        &self.layout
    }

    /// A tape-free net at the current parameters, with the model's own
    /// methods (the [`Net`] parts and the layers they are built from).
    pub fn net(&self) -> VtNet<'_, Free> {
        VtNet::free(self, &self.params)
    }
}

impl Backbone for VideoText {
    fn kind(&self) -> &str {
        KIND
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(self.config).expect("the config serialises")
    }

    fn layout(&self) -> &Layout {
        &self.layout
    }

    fn params(&self) -> &ParamVec {
        &self.params
    }

    fn params_mut(&mut self) -> &mut ParamVec {
        &mut self.params
    }

    fn net_taped<'a>(&'a self, w: &ParamVec) -> Box<dyn TapedNet + 'a> {
        Box::new(VtNet::taped(self, w))
    }

    fn net_free<'a>(&'a self, w: &ParamVec) -> Box<dyn Net<Free> + 'a> {
        Box::new(VtNet::free(self, w))
    }

    fn probe_blocks(&self, part: PartId) -> Vec<&str> {
        use crate::backbone::parts::*;
        const TEXT: &str = "text.token_embedding";
        const VIDEO: &str = "video.frame_embedding.weight";
        const CROSS: &str = "cross.layer.ff1.weight";
        if !self.provides().contains(&part) {
            return vec![];
        }
        match part {
            p if p.is::<VisualFeatures>() => vec![VIDEO],
            p if p.is::<TextFeatures>() => vec![TEXT],
            p if p.is::<VisualEmbedding>() => vec![VIDEO, "align.video_proj.weight"],
            p if p.is::<TextEmbedding>() => vec![TEXT, "align.text_proj.weight"],
            p if p.is::<RotationLogits>() => vec![VIDEO, "heads.rotation.weight"],
            p if p.is::<MaskedTokenLogits>() => vec![TEXT, VIDEO, CROSS, "heads.mlm.weight"],
            p if p.is::<MaskedFramePrediction>() => vec![TEXT, VIDEO, CROSS, "heads.frame.weight"],
            _ => vec![],
        }
    }

    fn explain_shape(&self, name: &str, found: &[usize]) -> Option<String> {
        // Every block's shape follows from the width, and the loader reads
        // this one first.
        let w = self.config.width;
        match (name, found) {
            ("text.token_embedding", &[VOCAB_SIZE, got]) if got != w => Some(format!(
                "backbone.width = {w} in its settings, but its tensors are {got} wide \
                 (`{name}` has shape {found:?})"
            )),
            _ => None,
        }
    }

    fn release_buffers(&self) {
        self.cache.step();
    }

    fn release_all_buffers(&self) {
        self.cache.empty();
    }
}
