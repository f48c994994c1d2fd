//! Contrastive (InfoNCE) losses over a square similarity matrix whose
//! diagonal holds the matching pairs: row `i`'s positive is column `i`, the
//! rest of the batch are its negatives.

use crate::backbone::{Dev, Loss, Net};
use dfdx::prelude::*;

/// A `(n, n)` logit matrix.
pub type Logits<T> = Tensor<(usize, usize), f32, Dev, T>;

fn identity<T: Tape<f32, Dev>>(net: &Net<T>, n: usize) -> Tensor<(usize, usize), f32, Dev> {
    let eye = (0..n * n)
        .map(|i| if i % (n + 1) == 0 { 1.0 } else { 0.0 })
        .collect();
    net.constant(eye, (n, n))
}

/// `CE(S)`: mean over rows of `−log softmax(S_i)_i`.
pub fn info_nce<T: Tape<f32, Dev>>(net: &Net<T>, logits: Logits<T>) -> Loss<T> {
    let n = logits.shape().0;
    cross_entropy_with_logits_loss(logits, identity(net, n))
}

/// `(CE(S) + CE(Sᵀ)) / 2`: both directions (e.g. text→video and video→text).
pub fn symmetric_info_nce<T: Tape<f32, Dev>>(net: &Net<T>, logits: Logits<T>) -> Loss<T> {
    let forward = info_nce(net, logits.retaped::<T>());
    // `contiguous`: dfdx 0.13 differentiates log-softmax of a transposed
    // view wrongly (found by the task gradient checks); copy it first.
    let backward = info_nce(net, logits.permute::<_, Axes2<1, 0>>().contiguous());
    (forward + backward) * 0.5
}
