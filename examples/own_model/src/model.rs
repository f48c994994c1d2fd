//! `OwnMlp`: a plain dfdx MLP on 8x8 grey images as a meltr backbone.
//!
//! It serves two built-in parts (visual features, class logits) and one
//! that a plugin crate defines: `meltr-projection-contrast`'s
//! [`Projection`], a head of its own over the visual features. The dfdx
//! module does the maths; [`ModuleParams`] turns its tensors into the one
//! flat parameter vector meltr optimises and back; the net of one forward
//! pass is a copy of the module with `w` written in.

use meltr::backbone::{Backbone, BackboneRegistration, Layout, ModuleParams, TapedNet};
use meltr::dfdx::nn::Module as _;
use meltr::prelude::*;
use meltr::tensor::ParamVec;
use meltr_projection_contrast::Projection;
use rand::SeedableRng;

/// The kind backbone files and checkpoints record.
pub const KIND: &str = "own_mlp";

/// Width of the trunk's output (the visual features).
pub const FEATURES: usize = 32;
/// Classes (the digits 0-9).
pub const CLASSES: usize = 10;
/// Width of the projection head's output.
pub const PROJECTED: usize = 16;

/// The classifier: a trunk over the 64 pixels, then a class head.
pub type Arch = (
    (Linear<64, 64>, ReLU, Linear<64, FEATURES>, ReLU),
    Linear<FEATURES, CLASSES>,
);
/// The built classifier (tensors on meltr's device).
pub type MlpModule = <Arch as BuildOnDevice<Dev, f32>>::Built;

/// The backbone's modules: the classifier and a projection head over the
/// trunk's output. Parameter names follow the tuples: `0.0.0.weight`
/// (first trunk layer) ... `0.1.weight` (the class head), `1.weight` (the
/// projection), weights stored `out x in`.
pub type Model = (Arch, Linear<FEATURES, PROJECTED>);
/// The built modules.
pub type ModelModule = <Model as BuildOnDevice<Dev, f32>>::Built;

/// The backbone: the module's shape, and its parameters as one flat vector.
#[derive(Clone)]
pub struct OwnMlp {
    /// The template each forward pass copies and writes `w` into.
    module: ModelModule,
    layout: Layout,
    params: ParamVec,
}

impl std::fmt::Debug for OwnMlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "OwnMlp({} parameters)", self.params.len())
    }
}

impl OwnMlp {
    /// A fresh model: weights uniform in ±1/√fan_in drawn from `seed`, biases 0.
    pub fn new(seed: u64) -> OwnMlp {
        let mut module = meltr::tensor::device().build_module::<Model, f32>();
        let layout = ModuleParams::layout(&module);
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut w = Vec::with_capacity(layout.num_params());
        for p in layout.blocks() {
            let bound = match p.block.shape[..] {
                [_, fan_in] => 1.0 / (fan_in as f32).sqrt(),
                _ => 0.0,
            };
            w.extend((0..p.block.len()).map(|_| bound * rng.gen_range(-1.0f32..1.0)));
        }
        let params = ParamVec::from_vec(&meltr::tensor::device(), w);
        ModuleParams::unflatten(&mut module, &params).expect("fresh parameters fit");
        OwnMlp {
            module,
            layout,
            params,
        }
    }

    /// The forward pass at `w`.
    pub fn net(&self, w: &ParamVec) -> MlpNet {
        let mut module = self.module.clone();
        // A wrong length or a non-finite value: every part answers the error.
        let refused = ModuleParams::unflatten(&mut module, w)
            .err()
            .map(|e| e.to_string());
        MlpNet { module, refused }
    }
}

impl Backbone for OwnMlp {
    fn kind(&self) -> &str {
        KIND
    }
    fn config(&self) -> serde_json::Value {
        serde_json::Value::Null // no settings: the sizes are in the type
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
        Box::new(self.net(w))
    }
    fn net_free<'a>(&'a self, w: &ParamVec) -> Box<dyn Net<Free> + 'a> {
        Box::new(self.net(w))
    }
    fn probe_blocks(&self, part: PartId) -> Vec<&str> {
        match part {
            p if p.is::<VisualFeatures>() => vec!["0.0.0.weight"],
            p if p.is::<ClassLogits>() => vec!["0.0.0.weight", "0.1.weight"],
            p if p.is::<Projection>() => vec!["0.0.0.weight", "1.weight"],
            _ => vec![],
        }
    }
}

/// One forward pass: a copy of the module holding `w`.
pub struct MlpNet {
    module: ModelModule,
    refused: Option<String>,
}

impl MlpNet {
    fn device(&self) -> &Dev {
        self.module.1.weight.device()
    }

    /// The trunk's output `(b, FEATURES)`. The input starts a fresh tape of
    /// type `T` (none for `Free`), which records every op on the module's
    /// tensors; tapes of several passes merge when their losses are added.
    fn trunk<T: Tape<f32, Dev>>(
        &self,
        visual: &Visual,
    ) -> Result<Tensor<(usize, Const<FEATURES>), f32, Dev, T>> {
        if let Some(e) = &self.refused {
            return Err(Error::InvalidSetting {
                field: "own_mlp parameters".into(),
                value: "w".into(),
                reason: e.clone(),
            });
        }
        let got = (visual.frames, visual.channels, visual.height, visual.width);
        let b = visual.pixels.len() / 64;
        if got != (1, 1, 8, 8) || b == 0 || b * 64 != visual.pixels.len() {
            return Err(Error::InvalidSetting {
                field: "visual input".into(),
                value: format!(
                    "{}x{}x{}x{} per example, {} values",
                    got.0,
                    got.1,
                    got.2,
                    got.3,
                    visual.pixels.len()
                ),
                reason: "own_mlp reads 1x1x8x8 images (frames x channels x height x width)".into(),
            });
        }
        let x = self
            .device()
            .tensor_from_vec(visual.pixels.clone(), (b, Const::<64>));
        Ok(self.module.0 .0.forward(x.retaped::<T>()))
    }
}

impl<T: AnyTape> Net<T> for MlpNet {
    fn dev(&self) -> &Dev {
        self.device()
    }
    fn provide(&self, request: &mut Request<'_, T>) {
        request
            .serve::<VisualFeatures>(|visual| {
                let h = self.trunk::<T>(visual)?;
                let b = h.shape().0;
                Ok(h.reshape_like(&(b, FEATURES)))
            })
            .serve::<ClassLogits>(|visual| {
                let logits = self.module.0 .1.forward(self.trunk::<T>(visual)?);
                let b = logits.shape().0;
                Ok(logits.reshape_like(&(b, CLASSES)))
            })
            .serve::<Projection>(|visual| {
                let z = self.module.1.forward(self.trunk::<T>(visual)?);
                let b = z.shape().0;
                Ok(z.reshape_like(&(b, PROJECTED)))
            });
    }
}

impl TapedNet for MlpNet {
    fn gradient(&self, loss: Loss<Taped>) -> ParamVec {
        ModuleParams::gradient(&self.module, loss.backward())
    }
}

fn build(config: &serde_json::Value, seed: u64) -> Result<Box<dyn Backbone>> {
    if !config.is_null() {
        return Err(Error::InvalidSetting {
            field: "backbone".into(),
            value: config.to_string(),
            reason: "own_mlp takes no settings".into(),
        });
    }
    Ok(Box::new(OwnMlp::new(seed)))
}

// Backbone files, checkpoints and `Trainer::resume` rebuild the model by kind.
meltr::inventory::submit!(BackboneRegistration {
    kind: KIND,
    summary: "example: a dfdx MLP (64-64-32, heads 10 and 16) on 8x8 grey images",
    build,
});
