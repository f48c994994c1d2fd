//! `projection_contrast` — a task that brings a model part of its own.
//!
//! [`Projection`] is a part the core does not know: a projection head over
//! the pooled visual features, the space a contrastive loss is computed in
//! (SimCLR's `g(h)`). A backbone that has one serves it
//! (`request.serve::<Projection>(..)`, as `examples/own_model` does);
//! asking one that has not is an error naming the part.
//!
//! The task perturbs every pixel of each image twice with uniform noise in
//! `±noise` (drawn from the seed only), projects both views, and scores the
//! cosine similarities divided by `temperature` with InfoNCE in both
//! directions, the other view of the same image as the positive.
//! `temperature` has no default: a run file must give it.

use meltr::prelude::*;

/// A projection head over the pooled visual features: `(examples, width)`.
#[derive(Debug, Clone, Copy)]
pub struct Projection;

impl Part for Projection {
    const NAME: &'static str = "projection";
    type Args = Visual;
    type Output<T: AnyTape> = Feats<T>;
}

/// Contrast of two noisy views through [`Projection`]; see the crate docs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(crate = "meltr::serde", deny_unknown_fields)]
pub struct ProjectionContrast {
    /// Softmax temperature of the cosine similarities (required, positive).
    pub temperature: f32,
    /// Half-width of the uniform pixel noise of each view.
    #[serde(default = "default_noise")]
    pub noise: f32,
}

fn default_noise() -> f32 {
    0.1
}

/// `x`'s rows scaled to unit length.
fn unit<T: AnyTape>(x: Feats<T>) -> Feats<T> {
    let norms = x.retaped::<T>().square().sum::<(usize,), Axis<1>>().sqrt() + 1e-6;
    let shape = *x.shape();
    x / norms.broadcast_like::<_, Axis<1>>(&shape)
}

impl Task for ProjectionContrast {
    const NAME: &'static str = "projection_contrast";
    const SUMMARY: &'static str =
        "example: contrast two noisy views of each image through the backbone's projection head";

    type Needs = (Projection,);
    const COUPLING: Coupling = Coupling::Batch;

    fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid("temperature", self.temperature, "must be positive"));
        }
        if !(self.noise.is_finite() && self.noise >= 0.0) {
            return Err(invalid("noise", self.noise, "must be a number >= 0"));
        }
        Ok(())
    }

    fn loss<T: AnyTape>(&self, net: &dyn Net<T>, batch: &Batch, seed: u64) -> Result<Loss<T>> {
        let mut rng = task_rng(seed);
        let clean = batch.visual()?;
        // Noise drawn for the whole global batch; this shard keeps its rows.
        let mut view = || -> Result<Visual> {
            let noise = batch.draw(clean.example_len(), || rng.gen_range(-1.0f32..=1.0))?;
            let noisy = clean.pixels.iter().zip(noise);
            Ok(clean.with_pixels(noisy.map(|(x, e)| x + self.noise * e).collect()))
        };
        let (a, b) = (view()?, view()?);
        let a = unit(net.part::<Projection>(&a)?);
        let b = unit(net.part::<Projection>(&b)?);
        symmetric_info_nce(batch, a, b, self.temperature)
    }
}

register_task!(ProjectionContrast);

#[cfg(test)]
mod tests {
    use meltr::aux_task::{build_task, TaskSet};

    fn settings(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn temperature_is_required_and_checked_when_built() {
        let e = build_task("projection_contrast", &settings("noise = 0.2")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "task `projection_contrast`: missing field `temperature`"
        );
        let e = build_task("projection_contrast", &settings("temperature = -1.0")).unwrap_err();
        assert!(
            e.to_string().contains("temperature = -1: must be positive"),
            "{e}"
        );
        build_task("projection_contrast", &settings("temperature = 0.2")).unwrap();
    }

    #[test]
    fn a_built_in_backbone_without_the_part_is_refused_by_name() {
        let task = build_task("projection_contrast", &settings("temperature = 0.2")).unwrap();
        let set = TaskSet::new(vec![task]);
        for kind in ["image_resnet", "video_text"] {
            let model =
                meltr::backbone::backbone_from_kind(kind, &serde_json::Value::Null, 0).unwrap();
            let e = set.check_served(&*model).unwrap_err().to_string();
            assert!(
                e.starts_with("task `projection_contrast` needs the backbone's `projection`"),
                "{kind}: {e}"
            );
        }
    }
}
