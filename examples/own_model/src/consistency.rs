//! `consistency` — a task of our own: the class distribution of a randomly
//! shifted, noised view of each image should match the clean image's.
//!
//! Each example is shifted by `(dy, dx)`, both uniform in `-shift..=shift`
//! (pixels moved in from outside are 0), and uniform noise in `±noise` is
//! added; the loss is the mean over examples of `Σ_c (p_c − q_c)²`, `p`
//! and `q` the softmaxes of the clean and shifted views' class logits. Both
//! views are differentiated, so the taped gradient is the derivative of
//! the very value the engine's central differences see. The shifts and the
//! noise come from the seed only.

use meltr::aux_task::{task_rng, AuxTask, Capability, TaskRegistration};
use meltr::backbone::{Batch, Dev, Free, Loss, Net, Taped, Visual};
use meltr::dfdx::prelude::*;
use meltr::{Error, Result};
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Consistency under shifts and noise; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Consistency {
    /// Largest shift, in pixels, along each axis.
    pub shift: usize,
    /// Half-width of the uniform pixel noise.
    pub noise: f32,
}

impl Default for Consistency {
    fn default() -> Self {
        Consistency {
            shift: 1,
            noise: 0.1,
        }
    }
}

impl Consistency {
    /// The shifted, noised view of `v`, a pure function of `seed`.
    pub fn view(&self, v: &Visual, seed: u64) -> Visual {
        let mut rng = task_rng(seed);
        let (h, w, s) = (v.height as isize, v.width as isize, self.shift as isize);
        let mut out = Vec::with_capacity(v.pixels.len());
        for i in 0..v.examples() {
            let (dy, dx) = (rng.gen_range(-s..=s), rng.gen_range(-s..=s));
            for plane in v.example(i).chunks_exact((h * w) as usize) {
                for y in 0..h {
                    for x in 0..w {
                        let (sy, sx) = (y - dy, x - dx);
                        let inside = (0..h).contains(&sy) && (0..w).contains(&sx);
                        let p = if inside {
                            plane[(sy * w + sx) as usize]
                        } else {
                            0.0
                        };
                        out.push(p + self.noise * rng.gen_range(-1.0f32..=1.0));
                    }
                }
            }
        }
        v.with_pixels(out)
    }

    /// The loss, written once for both tapes.
    fn loss<T: Tape<f32, Dev>>(
        &self,
        net: &dyn Net<T>,
        batch: &Batch,
        seed: u64,
    ) -> Result<Loss<T>> {
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(Error::TaskConfig {
                task: "consistency".into(),
                message: format!("noise = {} must be a number >= 0", self.noise),
            });
        }
        let clean = batch.visual()?;
        let p = net.class_logits(clean)?.softmax::<Axis<1>>();
        let q = net
            .class_logits(&self.view(clean, seed))?
            .softmax::<Axis<1>>();
        Ok((p - q).square().sum::<Rank0, _>() / batch.size as f32)
    }
}

#[typetag::serde(name = "consistency")]
impl AuxTask for Consistency {
    fn name(&self) -> &str {
        "consistency"
    }
    fn needs(&self) -> Vec<Capability> {
        vec![Capability::VisualEncoder, Capability::Classifier]
    }
    fn loss_taped(&self, net: &dyn Net<Taped>, batch: &Batch, seed: u64) -> Result<Loss<Taped>> {
        self.loss(net, batch, seed)
    }
    fn loss_free(&self, net: &dyn Net<Free>, batch: &Batch, seed: u64) -> Result<Loss<Free>> {
        self.loss(net, batch, seed)
    }
}

inventory::submit!(TaskRegistration::of::<Consistency>(
    "consistency",
    "example: match the class distributions of an image and a shifted, noised view"
));
