//! Losses that couple the examples of a batch, kept exact when the batch
//! is split over ranks (docs/design.md §7).
//!
//! What the trainer asks of a task's loss on a rank's shard of `n` of the
//! global batch's `B` examples: the mean over the ranks of their losses,
//! each weighted by `n`, is the global batch's loss — its value and its
//! gradient. A mean of per-example terms ([`Coupling::PerExample`]) meets
//! it as written. A loss that couples examples ([`Coupling::Batch`]) meets
//! it through these helpers, which are the identity in one process:
//!
//! * [`gather_rows`]: the global batch's rows of a tensor (this rank's on
//!   the tape, the others' as constants), so that a loss can be written
//!   over the whole batch — in-batch negatives, mixup's captions;
//!   [`gather_uneven_rows`] where ranks hold different numbers of rows;
//! * [`whole_batch_loss`]: a loss computed on gathered rows, turned into
//!   this rank's share: the same value, and the gradient that, summed over
//!   the ranks, is the whole loss's (every rank's rows get the gradient of
//!   every row's terms);
//! * [`mean_over_terms`]: a mean over terms whose number differs between
//!   shards (masked tokens, masked pixels), weighted by the global count.
//!
//! [`crate::aux_task::symmetric_info_nce`] and
//! [`crate::aux_task::info_nce`] use them: a task built on those needs no
//! code of its own to be exact across ranks.

use crate::backbone::{AnyTape, Batch, Feats, Loss};
use crate::error::{Error, Result};
use dfdx::prelude::*;

/// How a task's loss depends on the examples of its batch, as `meltr
/// tasks` shows it. Whatever a task declares, `meltr::testing::check_task`
/// checks that its loss on shards adds up to the whole batch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coupling {
    /// A mean of per-example terms, each drawing its randomness from its
    /// index in the global batch: shards as it is.
    PerExample,
    /// Examples interact (in-batch negatives, mixup partners, a mean over
    /// a number of terms that differs between examples): the loss gathers
    /// what it needs of the other ranks through the helpers of this module.
    Batch,
}

impl Coupling {
    /// The name `meltr tasks` prints.
    pub fn name(self) -> &'static str {
        match self {
            Coupling::PerExample => "per example",
            Coupling::Batch => "whole batch",
        }
    }
}

/// The rows of `x`, one per example of this shard, for the whole global
/// batch: every rank's rows in rank order, this rank's on the tape, the
/// others' as constants (`x` itself in one process). Every rank must call
/// it, in the same order.
pub fn gather_rows<T: AnyTape>(batch: &Batch, x: Feats<T>) -> Result<Feats<T>> {
    if batch.shard.is_whole() {
        return Ok(x);
    }
    let [rows, width] = x.shape().concrete();
    if rows != batch.size {
        return Err(Error::Length {
            what: "rows to gather, one per example (gather_uneven_rows takes any number)".into(),
            expected: batch.size,
            found: rows,
        });
    }
    let all = batch.shard.all_gather(&x.as_vec(), width)?;
    Ok(around(batch, x, all))
}

/// [`gather_rows`] for a number of rows that differs between ranks (e.g.
/// masked frames): one more collective, for the counts.
pub fn gather_uneven_rows<T: AnyTape>(batch: &Batch, x: Feats<T>) -> Result<Feats<T>> {
    if batch.shard.is_whole() {
        return Ok(x);
    }
    let all = batch.shard.all_gather_uneven(&x.as_vec())?;
    Ok(around(batch, x, all))
}

/// This rank's rows `x` between the other ranks' `all` (rank order), as
/// constants.
fn around<T: AnyTape>(batch: &Batch, x: Feats<T>, all: Vec<Vec<f32>>) -> Feats<T> {
    let (rank, width) = (batch.shard.rank(), x.shape().1);
    let dev = x.device().clone();
    let constant = |rows: Vec<f32>| {
        let n = rows.len() / width;
        dev.tensor_from_vec(rows, (n, width)).retaped::<T>()
    };
    let (before, after) = (all[..rank].concat(), all[rank + 1..].concat());
    let mut out = x;
    if !before.is_empty() {
        out = (constant(before), out).concat_along(Axis::<0>);
    }
    if !after.is_empty() {
        out = (out, constant(after)).concat_along(Axis::<0>);
    }
    out
}

/// This rank's share of `loss`, a loss of the whole global batch computed
/// from [`gather_rows`]: its value, and `B / n` times its gradient, which
/// the trainer's mean over the ranks (weighted by `n`) turns into the sum
/// of every rank's part of the gradient — the whole loss's. `loss` itself
/// in one process.
pub fn whole_batch_loss<T: AnyTape>(batch: &Batch, loss: Loss<T>) -> Loss<T> {
    if batch.shard.is_whole() {
        return loss;
    }
    let scale = batch.global_size() as f32 / batch.size as f32;
    let value = loss.array();
    loss * scale + value * (1.0 - scale)
}

/// A mean over `count` terms of this shard (`mean`), made the share of the
/// mean over the `total` terms of the whole global batch:
/// `mean · count · B / (n · total)`. `mean` itself in one process. A task
/// that draws its terms for the whole batch (masks over every example)
/// knows `total` on every rank, so nothing is sent.
pub fn mean_over_terms<T: AnyTape>(
    batch: &Batch,
    mean: Loss<T>,
    count: usize,
    total: usize,
) -> Result<Loss<T>> {
    if batch.shard.is_whole() {
        return Ok(mean);
    }
    if count > total {
        return Err(Error::Length {
            what: "terms of the whole global batch (mean_over_terms' total)".into(),
            expected: count,
            found: total,
        });
    }
    if count == 0 {
        // No term here (the mean of none is not a number): no share.
        return Ok(mean.device().zeros().retaped::<T>());
    }
    let scale = count as f32 * batch.global_size() as f32 / (batch.size as f32 * total as f32);
    Ok(mean * scale)
}
