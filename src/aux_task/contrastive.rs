//! Contrastive (InfoNCE) losses over a square similarity matrix whose
//! diagonal holds the matching pairs: row `i`'s positive is column `i`, the
//! rest of the batch are its negatives.

use crate::backbone::{Feats, Loss};
use crate::tensor::Dev;
use dfdx::prelude::*;

/// A `(n, n)` logit matrix.
pub type Logits<T> = Feats<T>;

/// `CE(S)`: mean over rows of `−log softmax(S_i)_i`.
pub fn info_nce<T: Tape<f32, Dev>>(logits: Logits<T>) -> Loss<T> {
    let n = logits.shape().0;
    let eye = (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    let eye = logits.device().tensor_from_vec(eye, (n, n));
    cross_entropy_with_logits_loss(logits, eye)
}

/// `(CE(S) + CE(Sᵀ)) / 2`: both directions (e.g. text→video and video→text).
pub fn symmetric_info_nce<T: Tape<f32, Dev>>(logits: Logits<T>) -> Loss<T> {
    let forward = info_nce(logits.retaped::<T>());
    // `contiguous`: dfdx 0.13 differentiates log-softmax of a transposed
    // view wrongly (found by the task gradient checks); copy it first.
    let backward = info_nce(logits.permute::<_, Axes2<1, 0>>().contiguous());
    (forward + backward) * 0.5
}

/// Cross-entropy of `logits` `(n, classes)` against soft targets (each row
/// a distribution over the classes), e.g. one-hot labels or mixup's blend.
pub fn soft_cross_entropy<T: Tape<f32, Dev>>(logits: Feats<T>, targets: Vec<f32>) -> Loss<T> {
    let shape = *logits.shape();
    let targets = logits.device().tensor_from_vec(targets, shape);
    cross_entropy_with_logits_loss(logits, targets)
}
