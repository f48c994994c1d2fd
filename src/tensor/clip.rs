//! Gradient clipping before an optimiser step: each tensor to its own norm
//! (the reference code's BertAdam, `clip_grad_norm_(p, max)` per parameter)
//! or the whole vector by its global norm (`clip_grad_norm_(all, max)`).
//! As PyTorch, a norm `n > max` scales by `max / (n + 1e-6)`.

use super::ParamVec;
use std::ops::Range;

/// How a gradient is clipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum GradClip {
    /// Left as it is.
    #[default]
    None,
    /// Each block (a parameter tensor) scaled to norm at most `max_norm`.
    PerTensor {
        /// The largest norm a block keeps.
        max_norm: f32,
        /// The blocks, as ranges of the flat vector.
        blocks: Vec<Range<usize>>,
    },
    /// The whole vector scaled to norm at most `max_norm`.
    Global {
        /// The largest norm the gradient keeps.
        max_norm: f32,
    },
}

impl GradClip {
    /// The clipped gradient (a copy; `grad` itself is untouched).
    pub fn apply(&self, grad: &ParamVec) -> ParamVec {
        match self {
            GradClip::None => grad.clone(),
            GradClip::Global { max_norm } => {
                let mut g = grad.clone();
                let coef = clip_coefficient(grad.norm() as f64, *max_norm);
                if coef < 1.0 {
                    g.scale(coef);
                }
                g
            }
            GradClip::PerTensor { max_norm, blocks } => {
                let mut g = grad.to_vec();
                for r in blocks {
                    let block = &mut g[r.clone()];
                    let norm = block
                        .iter()
                        .map(|x| (*x as f64).powi(2))
                        .sum::<f64>()
                        .sqrt();
                    let coef = clip_coefficient(norm, *max_norm);
                    if coef < 1.0 {
                        block.iter_mut().for_each(|x| *x *= coef);
                    }
                }
                ParamVec::from_vec(&grad.tensor().device().clone(), g)
            }
        }
    }
}

/// PyTorch's `max_norm / (norm + 1e-6)` (a factor ≥ 1 means: leave it).
fn clip_coefficient(norm: f64, max_norm: f32) -> f32 {
    (max_norm as f64 / (norm + 1e-6)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::device;

    #[test]
    fn per_tensor_clipping_scales_only_the_blocks_above_the_limit() {
        // Blocks [3, 4] (norm 5) and [0.3, 0.4] (norm 0.5), limit 1.
        let g = ParamVec::from_vec(&device(), vec![3.0, 4.0, 0.3, 0.4]);
        let clip = GradClip::PerTensor {
            max_norm: 1.0,
            blocks: vec![0..2, 2..4],
        };
        let c = clip.apply(&g).to_vec();
        let s = 1.0 / (5.0 + 1e-6);
        let want = [3.0 * s, 4.0 * s, 0.3, 0.4];
        for (a, b) in c.iter().zip(want) {
            assert!((a - b).abs() < 1e-7, "{c:?}");
        }
    }

    #[test]
    fn global_clipping_scales_the_whole_vector_to_the_limit() {
        // Norm 13 (5, 12), limit 2.6: every entry times 2.6 / 13 = 0.2.
        let g = ParamVec::from_vec(&device(), vec![5.0, 0.0, 12.0]);
        let c = GradClip::Global { max_norm: 2.6 }.apply(&g).to_vec();
        assert!(
            (c[0] - 1.0).abs() < 1e-6 && c[1] == 0.0 && (c[2] - 2.4).abs() < 1e-6,
            "{c:?}"
        );
        let small = GradClip::Global { max_norm: 20.0 }.apply(&g).to_vec();
        assert_eq!(small, vec![5.0, 0.0, 12.0]);
    }
}
