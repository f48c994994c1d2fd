//! `consistency` — a task of our own: the class distribution of a randomly
//! shifted, noised view of each image should match the clean image's.
//!
//! Each example is shifted by `(dy, dx)`, both uniform in `-shift..=shift`
//! (pixels moved in from outside are 0), and uniform noise in `±noise` is
//! added; the loss is the mean over examples of `Σ_c (p_c − q_c)²`, `p`
//! and `q` the softmaxes of the clean and shifted views' class logits. Both
//! views are differentiated, so the taped gradient is the derivative of
//! the very value the engine's central differences see. The shifts and the
//! noise come from the seed only, drawn for the whole global batch.

use meltr::prelude::*;

/// Consistency under shifts and noise; see the module docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields, default)]
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
    /// The shifted, noised view of `batch`'s images, a pure function of
    /// `seed`: drawn for the whole global batch (each example its shift,
    /// then its noise), of which the batch keeps its own.
    pub fn view(&self, batch: &Batch, seed: u64) -> Result<Visual> {
        let v = batch.visual()?;
        let mut rng = task_rng(seed);
        let (h, w, s) = (v.height as isize, v.width as isize, self.shift as isize);
        let draws = batch.draw(1, || {
            let shift = (rng.gen_range(-s..=s), rng.gen_range(-s..=s));
            let noise: Vec<f32> = (0..v.example_len())
                .map(|_| self.noise * rng.gen_range(-1.0f32..=1.0))
                .collect();
            (shift, noise)
        })?;
        let mut out = Vec::with_capacity(v.pixels.len());
        for (i, ((dy, dx), noise)) in draws.into_iter().enumerate() {
            let mut noise = noise.into_iter();
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
                        out.push(p + noise.next().unwrap_or(0.0));
                    }
                }
            }
        }
        Ok(v.with_pixels(out))
    }
}

impl Task for Consistency {
    const NAME: &'static str = "consistency";
    const SUMMARY: &'static str =
        "example: match the class distributions of an image and a shifted, noised view";

    type Needs = (ClassLogits,);

    fn validate(&self) -> Result<()> {
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(invalid("noise", self.noise, "must be a number >= 0"));
        }
        Ok(())
    }

    /// The loss, written once for both tapes.
    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let clean = batch.visual()?;
        let p = net.part::<ClassLogits>(clean)?.softmax::<Axis<1>>();
        let q = net
            .part::<ClassLogits>(&self.view(batch, seed)?)?
            .softmax::<Axis<1>>();
        Ok((p - q).square().sum::<Rank0, _>() / batch.size as f32)
    }
}

register_task!(Consistency);
