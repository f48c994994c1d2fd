//! `ImageResNet`: a small ResNet-style network on 8x8 single-channel
//! images, with every parameter in one flat [`ParamVec`].
//!
//! A 3x3 stem convolution (1 -> `width` channels) and ReLU, then `blocks`
//! residual blocks (conv3x3, ReLU, conv3x3, add the block's input, ReLU),
//! then a global average pool to one `width` feature row per image. Heads
//! (each optional): class logits and rotation logits (linear maps of the
//! pooled features) and a pixel decoder (a 1x1 convolution of the last
//! feature map to one channel). Convolutions pad by 1 and keep the 8x8 size.
//!
//! The stem reads each pixel value (in `[0, 1]`) minus 0.5, so that the
//! zero padding differs from the images' dark background; hidden pixels
//! (masked-pixel prediction) read a learned value instead.
//!
//! Parameter names and shapes follow PyTorch: a convolution's weight is
//! `out x in x 3 x 3`, a linear weight `out x in`.

use super::net::ResNetNet;
use super::{CLASSES, PIXELS, ROTATIONS, SIDE};
use crate::backbone::{Backbone, BlockIndices, BufferCache, Free, Layout, Net, PartId, TapedNet};
use crate::error::{Error, Result};
use crate::tensor::Dev;
use crate::tensor::ParamVec;
#[cfg(feature = "cuda")]
use dfdx::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

/// The kind image-ResNet backbone files record.
pub const KIND: &str = "image_resnet";

/// The largest `width` [`ResNetConfig::validate`] accepts.
pub const MAX_WIDTH: usize = 512;
/// The largest `blocks` [`ResNetConfig::validate`] accepts.
pub const MAX_BLOCKS: usize = 64;

/// The settings of an [`ImageResNet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResNetConfig {
    /// Channels of every feature map (and width of the pooled features).
    pub width: usize,
    /// Residual blocks after the stem.
    pub blocks: usize,
    /// Class logits (`heads.class`).
    pub classifier: bool,
    /// Rotation classifier (`heads.rotation`).
    pub rotation_head: bool,
    /// Masked-pixel decoder (`heads.pixel` and `pixels.mask_value`).
    pub pixel_head: bool,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        ResNetConfig {
            width: 16,
            blocks: 2,
            classifier: true,
            rotation_head: true,
            pixel_head: true,
        }
    }
}

impl ResNetConfig {
    /// Errors, naming the field, on a width of 0 or sizes past
    /// [`MAX_WIDTH`] / [`MAX_BLOCKS`].
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, value: usize, reason: String| {
            Err(Error::InvalidSetting {
                field: format!("backbone.{field}"),
                value: value.to_string(),
                reason,
            })
        };
        if self.width == 0 || self.width > MAX_WIDTH {
            return bad("width", self.width, format!("must be in 1..={MAX_WIDTH}"));
        }
        if self.blocks > MAX_BLOCKS {
            return bad(
                "blocks",
                self.blocks,
                format!("must be at most {MAX_BLOCKS}"),
            );
        }
        Ok(())
    }

    /// The parameter layout of a network with these settings.
    pub fn layout(&self) -> Layout {
        let w = self.width;
        let mut l = Layout::new();
        let conv = |l: &mut Layout, name: &str, i: usize, o: usize, k: usize| {
            l.push(format!("{name}.weight"), &[o, i, k, k]);
            l.push(format!("{name}.bias"), &[o]);
        };
        conv(&mut l, "stem.conv", 1, w, 3);
        for b in 0..self.blocks {
            conv(&mut l, &format!("blocks.{b}.conv1"), w, w, 3);
            conv(&mut l, &format!("blocks.{b}.conv2"), w, w, 3);
        }
        if self.classifier {
            l.push("heads.class.weight", &[CLASSES, w]);
            l.push("heads.class.bias", &[CLASSES]);
        }
        if self.rotation_head {
            l.push("heads.rotation.weight", &[ROTATIONS, w]);
            l.push("heads.rotation.bias", &[ROTATIONS]);
        }
        if self.pixel_head {
            l.push("pixels.mask_value", &[1]);
            conv(&mut l, "heads.pixel", w, 1, 1);
        }
        l
    }
}

/// The input value hidden pixels start as (it is learned), in the units
/// the stem reads (pixel − [`super::INPUT_SHIFT`], in `[-0.5, 0.5]`):
/// outside that range, so that the network tells them apart from dark pixels.
pub const MASK_VALUE_INIT: f32 = -1.0;

/// Most im2col index tables kept (one per batch size seen).
const MAX_TABLES: usize = 16;

/// An im2col index table ([`im2col_rows`]): host rows for the CPU build's
/// fused gather, a device tensor for dfdx's `gather` under `cuda`.
#[cfg(not(feature = "cuda"))]
pub(super) type Im2colTable = std::sync::Arc<[usize]>;
#[cfg(feature = "cuda")]
pub(super) type Im2colTable = Tensor<(usize,), usize, Dev>;

/// Per batch size, an im2col index table.
type Tables = HashMap<usize, Im2colTable>;

/// The image backbone; see the module docs.
pub struct ImageResNet {
    dev: Dev,
    config: ResNetConfig,
    layout: Layout,
    params: ParamVec,
    indices: BlockIndices,
    /// Per batch size, the im2col row indices ([`im2col_rows`]) on the device.
    tables: Mutex<Tables>,
    /// Last: fields drop in order, and this one empties the device's cache
    /// of the buffers the others gave back.
    cache: BufferCache,
}

impl std::fmt::Debug for ImageResNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageResNet")
            .field("config", &self.config)
            .field("num_params", &self.layout.num_params())
            .finish_non_exhaustive()
    }
}

impl Clone for ImageResNet {
    fn clone(&self) -> Self {
        ImageResNet {
            dev: self.dev.clone(),
            config: self.config,
            layout: self.layout.clone(),
            params: self.params.clone(),
            indices: self.indices.clone(),
            cache: self.cache.clone(),
            tables: Mutex::new(HashMap::new()),
        }
    }
}

/// For a batch of `b` images, the source row of every 3x3 tap of every
/// pixel: entry `(row * 9 + ky * 3 + kx)` is the row `image * 64 + y * 8 + x`
/// of the pixel at offset `(ky - 1, kx - 1)` from `row`, or `b * 64` (a
/// row of zeros appended below the input) where that falls outside the image.
pub fn im2col_rows(b: usize) -> Vec<usize> {
    let s = SIDE as isize;
    let zero = b * PIXELS;
    let mut idx = Vec::with_capacity(zero * 9);
    for i in 0..b {
        for y in 0..s {
            for x in 0..s {
                for ky in -1..=1 {
                    for kx in -1..=1 {
                        let (yy, xx) = (y + ky, x + kx);
                        idx.push(if (0..s).contains(&yy) && (0..s).contains(&xx) {
                            i * PIXELS + (yy * s + xx) as usize
                        } else {
                            zero
                        });
                    }
                }
            }
        }
    }
    idx
}

impl ImageResNet {
    /// A freshly initialised network on the default device.
    pub fn new(config: ResNetConfig, seed: u64) -> Result<ImageResNet> {
        ImageResNet::with_device(crate::tensor::device(), config, seed)
    }

    /// A freshly initialised network on `dev`. Initialisation is drawn on
    /// the host from `seed` with ChaCha8 (same weights on every machine):
    /// weights uniform in ±1/√fan_in (PyTorch's default bound; fan_in is
    /// the product of a weight's shape past the first axis), biases 0, the
    /// mask value [`MASK_VALUE_INIT`].
    pub fn with_device(dev: Dev, config: ResNetConfig, seed: u64) -> Result<ImageResNet> {
        config.validate()?;
        let cache = BufferCache::enable(&dev);
        let layout = config.layout();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut w = Vec::with_capacity(layout.num_params());
        for p in layout.blocks() {
            let name = &p.block.name;
            let n = p.block.len();
            if name == "pixels.mask_value" {
                w.extend(std::iter::repeat_n(MASK_VALUE_INIT, n));
            } else if name.ends_with(".bias") {
                w.extend(std::iter::repeat_n(0.0, n));
            } else {
                let fan_in: usize = p.block.shape[1..].iter().product();
                let bound = 1.0 / (fan_in as f32).sqrt();
                w.extend((0..n).map(|_| rng.gen_range(-bound..bound)));
            }
        }
        let params = ParamVec::from_vec(&dev, w);
        let indices = BlockIndices::new(&dev, &layout);
        Ok(ImageResNet {
            dev,
            config,
            layout,
            params,
            indices,
            cache,
            tables: Mutex::new(HashMap::new()),
        })
    }

    /// The device.
    pub fn dev(&self) -> &Dev {
        &self.dev
    }

    /// The settings it was built from.
    pub fn settings(&self) -> &ResNetConfig {
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

    /// [`im2col_rows`]`(b)`, built once per batch size.
    pub(super) fn im2col_table(&self, b: usize) -> Im2colTable {
        let mut tables = self.tables.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = tables.get(&b) {
            return t.clone();
        }
        if tables.len() >= MAX_TABLES {
            tables.clear();
        }
        let rows = im2col_rows(b);
        #[cfg(not(feature = "cuda"))]
        let t: Im2colTable = rows.into();
        #[cfg(feature = "cuda")]
        let t = {
            let n = rows.len();
            self.dev.tensor_from_vec(rows, (n,))
        };
        tables.insert(b, t.clone());
        t
    }

    /// A tape-free net at the current parameters, with the model's own
    /// methods (the [`Net`] parts and the layers they are built from).
    pub fn net(&self) -> ResNetNet<'_, Free> {
        ResNetNet::free(self, &self.params)
    }
}

impl Backbone for ImageResNet {
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
        Box::new(ResNetNet::taped(self, w))
    }

    fn net_free<'a>(&'a self, w: &ParamVec) -> Box<dyn Net<Free> + 'a> {
        Box::new(ResNetNet::free(self, w))
    }

    fn probe_blocks(&self, part: PartId) -> Vec<&str> {
        use crate::backbone::parts::*;
        const STEM: &str = "stem.conv.weight";
        if !self.provides().contains(&part) {
            return vec![];
        }
        match part {
            p if p.is::<VisualFeatures>() => vec![STEM],
            p if p.is::<ClassLogits>() => vec![STEM, "heads.class.weight"],
            p if p.is::<RotationLogits>() => vec![STEM, "heads.rotation.weight"],
            p if p.is::<MaskedPixelPrediction>() => vec![STEM, "heads.pixel.weight"],
            _ => vec![],
        }
    }

    fn release_buffers(&self) {
        self.cache.step();
    }

    fn release_all_buffers(&self) {
        self.cache.empty();
    }
}
