//! The mean cross-entropy of row logits against soft targets or classes:
//! one fused op in the CPU build ([`super::fused`]), dfdx's
//! `cross_entropy_with_logits_loss` under `cuda`.
//!
//! ```
//! use meltr::dfdx::prelude::*;
//! use meltr::tensor::{cross_entropy_with_logits, device, Targets};
//! let logits = device().tensor_from_vec(vec![2.0f32, 0.0, 0.0, 2.0], (2, 2));
//! let l = cross_entropy_with_logits(logits.leaky_trace(), Targets::Classes(&[0, 1]));
//! assert!((l.array() - (1.0f32 + (-2.0f32).exp()).ln()).abs() < 1e-6);
//! ```

use super::Dev;
use dfdx::prelude::*;

/// What each row of logits is scored against.
#[derive(Debug, Clone, Copy)]
pub enum Targets<'a> {
    /// A distribution over the classes per row, row-major (`rows · classes`).
    Soft(&'a [f32]),
    /// The class of each row (e.g. the diagonal of a contrastive matrix:
    /// `0..n`).
    Classes(&'a [usize]),
}

impl Targets<'_> {
    /// Panics unless these are targets for `n` rows of `k` classes.
    pub(crate) fn check(&self, n: usize, k: usize) {
        match self {
            Targets::Soft(t) => assert_eq!(t.len(), n * k, "soft targets for {n} rows of {k}"),
            Targets::Classes(c) => {
                assert_eq!(c.len(), n, "classes for {n} rows");
                assert!(c.iter().all(|&c| c < k), "a class out of 0..{k}");
            }
        }
    }

    /// The targets as `n · k` probabilities (one-hot for classes).
    pub fn dense(&self, n: usize, k: usize) -> Vec<f32> {
        match self {
            Targets::Soft(t) => t.to_vec(),
            Targets::Classes(c) => {
                let mut d = vec![0.0; n * k];
                for (i, &c) in c.iter().enumerate() {
                    d[i * k + c] = 1.0;
                }
                d
            }
        }
    }
}

/// `mean_i Σ_j −t_ij log softmax(logits_i)_j` for `logits` `(n, k)`.
///
/// Panics if the targets do not fit the logits (a programming error).
pub fn cross_entropy_with_logits<T: Tape<f32, Dev>>(
    logits: Tensor<(usize, usize), f32, Dev, T>,
    targets: Targets<'_>,
) -> Tensor<Rank0, f32, Dev, T> {
    #[cfg(not(feature = "cuda"))]
    {
        super::fused::cross_entropy_with_logits(logits, targets)
    }
    #[cfg(feature = "cuda")]
    {
        let (n, k) = *logits.shape();
        targets.check(n, k);
        let dense = logits.device().tensor_from_vec(targets.dense(n, k), (n, k));
        cross_entropy_with_logits_loss(logits, dense)
    }
}
