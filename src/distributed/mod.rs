//! Data parallelism over a collective library (docs/design.md §7).
//!
//! Every rank holds the same backbone, head and optimiser states and takes
//! its shard of every batch. What ranks exchange is small and fixed by the
//! method: the K losses of a step (averaged before the head, so every rank
//! computes the same value and weights), the backbone gradient, and, in a
//! meta step, the outer gradient and `c = J v`; tasks that couple the
//! examples of a batch (in-batch negatives, mixup partners) also gather
//! their embeddings through the batch's [`Shard`]. The trainer's
//! `Sharded` model makes every loss and gradient the mean over all ranks'
//! shards, so the backbone step and the meta step run unchanged on top.
//!
//! A [`Communicator`] is the only thing the trainer asks of the transport:
//! [`SingleProcess`] (the default), [`LocalGroup`] (threads in one process,
//! for tests), MPI with the `mpi` feature, and NCCL (gradients reduced on
//! the GPU, MPI for the rest) with the `nccl` feature.

mod local;
#[cfg(feature = "mpi")]
mod mpi;
#[cfg(feature = "nccl")]
mod nccl;
#[cfg_attr(not(feature = "nccl"), allow(dead_code))]
mod on_device;
mod shard;
mod single;

#[cfg(feature = "mpi")]
pub use self::mpi::Mpi;
#[cfg(feature = "nccl")]
pub use self::nccl::Nccl;
pub use local::LocalGroup;
pub use shard::{shard_of, shard_range, Shard};
pub use single::SingleProcess;

use crate::error::Result;
use crate::tensor::ParamVec;

/// Whether this process was started by `mpirun` (Open MPI, or a PMI/PMIx
/// launcher) as one of several ranks.
pub fn launched_by_mpi() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .any(|n| n.trim().parse::<usize>().is_ok_and(|n| n > 1))
}

/// The collective operations data parallelism needs. Every rank must call
/// the same operations in the same order with buffers of the same length.
pub trait Communicator {
    /// This process's rank, `0..size`.
    fn rank(&self) -> usize;

    /// Number of ranks.
    fn size(&self) -> usize;

    /// Replaces `values` on every rank with their element-wise sum over the
    /// ranks.
    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()>;

    /// Replaces `values` on every rank with rank `root`'s.
    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()>;

    /// A name for logs and errors (`single`, `mpi`...).
    fn name(&self) -> &str;

    /// Every rank's `local`, in rank order: rank `r` sends `counts[r]`
    /// values, which every rank knows beforehand (a shard's rows follow
    /// from the global batch's size), so no lengths are exchanged. The
    /// default sums a zero-padded buffer (each slot has one non-zero
    /// contribution, so the values arrive exact); a transport with an
    /// all-gather of its own overrides it.
    fn all_gather(&self, local: &[f32], counts: &[usize]) -> Result<Vec<Vec<f32>>> {
        check_counts(self.rank(), self.size(), local, counts)?;
        if self.size() == 1 {
            return Ok(vec![local.to_vec()]);
        }
        let rank = self.rank();
        let start: usize = counts[..rank].iter().sum();
        let mut all = vec![0.0f32; counts.iter().sum()];
        all[start..start + local.len()].copy_from_slice(local);
        self.all_reduce_sum(&mut all)?;
        let mut out = Vec::with_capacity(counts.len());
        let mut at = 0;
        for (r, &n) in counts.iter().enumerate() {
            // Our own values as sent (the sum turned a -0.0 into +0.0).
            out.push(if r == rank {
                local.to_vec()
            } else {
                all[at..at + n].to_vec()
            });
            at += n;
        }
        Ok(out)
    }

    /// The mean over the ranks of `values`, each rank's weighted by
    /// `weight` (its number of examples): one all-reduce of `values` and
    /// the weight together.
    fn all_reduce_weighted_mean(&self, values: &mut [f32], weight: f32) -> Result<()> {
        if self.size() == 1 {
            return Ok(());
        }
        let mut buf: Vec<f32> = values.iter().map(|v| v * weight).collect();
        buf.push(weight);
        self.all_reduce_sum(&mut buf)?;
        let total = buf.pop().expect("the weight is last");
        for (v, s) in values.iter_mut().zip(buf) {
            *v = s / total;
        }
        Ok(())
    }

    /// [`Communicator::all_reduce_weighted_mean`] of a parameter-sized
    /// vector. The default goes through the host; a GPU transport
    /// overrides it to stay on the device.
    fn all_reduce_weighted_mean_params(&self, values: &mut ParamVec, weight: f32) -> Result<()> {
        if self.size() == 1 {
            return Ok(());
        }
        let mut host = values.to_vec();
        self.all_reduce_weighted_mean(&mut host, weight)?;
        *values = ParamVec::from_vec(values.tensor().device(), host);
        Ok(())
    }
}

/// That `counts` has one length per rank and `local` is this rank's.
pub(crate) fn check_counts(
    rank: usize,
    size: usize,
    local: &[f32],
    counts: &[usize],
) -> Result<()> {
    if counts.len() != size {
        return Err(crate::error::Error::Length {
            what: "all-gather lengths, one per rank".into(),
            expected: size,
            found: counts.len(),
        });
    }
    if counts[rank] != local.len() {
        return Err(crate::error::Error::Length {
            what: format!("values rank {rank} sends to the all-gather"),
            expected: counts[rank],
            found: local.len(),
        });
    }
    Ok(())
}
