//! Contrastive (InfoNCE) losses: row `i` of one set of embeddings is
//! matched with row `i` of the other, and every other row of the step's
//! global batch is a negative — gathered from the other ranks when the
//! batch is split over several ([`super::coupling`]).
//!
//! [`symmetric_info_nce`] and [`info_nce`] take the embeddings and do the
//! gathering; [`diagonal_cross_entropy`] and its symmetric form score a
//! square logit matrix the caller has built over the whole batch.

use super::coupling::{gather_rows, whole_batch_loss};
use crate::backbone::{AnyTape, Batch, Feats, Loss};
use crate::error::Result;
use crate::tensor::{cross_entropy_with_logits, Dev, Targets};
use dfdx::prelude::*;

/// A `(n, n)` logit matrix.
pub type Logits<T> = Feats<T>;

/// Symmetric InfoNCE (CLIP's loss) of the matched rows of `a` and `b`
/// (this shard's), with logits `a_i · b_j / temperature` over every pair
/// of the global batch: `(CE(S) + CE(Sᵀ)) / 2`.
pub fn symmetric_info_nce<T: AnyTape>(
    batch: &Batch,
    a: Feats<T>,
    b: Feats<T>,
    temperature: f32,
) -> Result<Loss<T>> {
    let logits = global_logits(batch, a, b, temperature)?;
    Ok(whole_batch_loss(
        batch,
        symmetric_diagonal_cross_entropy(logits),
    ))
}

/// One-directional InfoNCE of the matched rows of `a` and `b`: each row of
/// `a` picks its own row of `b` among all the global batch's, with logits
/// `a_i · b_j / temperature`.
pub fn info_nce<T: AnyTape>(
    batch: &Batch,
    a: Feats<T>,
    b: Feats<T>,
    temperature: f32,
) -> Result<Loss<T>> {
    let logits = global_logits(batch, a, b, temperature)?;
    Ok(whole_batch_loss(batch, diagonal_cross_entropy(logits)))
}

/// `a_i · b_j / temperature` over every pair of the global batch's rows.
fn global_logits<T: AnyTape>(
    batch: &Batch,
    a: Feats<T>,
    b: Feats<T>,
    temperature: f32,
) -> Result<Logits<T>> {
    let (a, b) = (gather_rows(batch, a)?, gather_rows(batch, b)?);
    Ok(a.matmul(b.permute()) / temperature)
}

/// `CE(S)`: mean over rows of `−log softmax(S_i)_i`, for logits over the
/// whole batch.
pub fn diagonal_cross_entropy<T: Tape<f32, Dev>>(logits: Logits<T>) -> Loss<T> {
    let diagonal: Vec<usize> = (0..logits.shape().0).collect();
    cross_entropy_with_logits(logits, Targets::Classes(&diagonal))
}

/// `(CE(S) + CE(Sᵀ)) / 2`: both directions (e.g. text→video and video→text).
pub fn symmetric_diagonal_cross_entropy<T: Tape<f32, Dev>>(logits: Logits<T>) -> Loss<T> {
    let forward = diagonal_cross_entropy(logits.retaped::<T>());
    // `contiguous`: dfdx 0.13 (the CUDA build's loss) differentiates
    // log-softmax of a transposed view wrongly (found by the task gradient
    // checks); copy it first.
    let backward = diagonal_cross_entropy(logits.permute::<_, Axes2<1, 0>>().contiguous());
    (forward + backward) * 0.5
}

/// Cross-entropy of `logits` `(n, classes)` against soft targets (each row
/// a distribution over the classes), e.g. one-hot labels or mixup's blend.
pub fn soft_cross_entropy<T: Tape<f32, Dev>>(logits: Feats<T>, targets: Vec<f32>) -> Loss<T> {
    cross_entropy_with_logits(logits, Targets::Soft(&targets))
}
