//! How many threads the CPU build computes on.
//!
//! dfdx runs element-wise ops and reductions on the calling thread; only its
//! matrix products go through `gemm` on rayon's global pool (all cores by
//! default). At small batches the products are too small to split well and
//! the pool's hand-offs cost more than the second core gives back, so the
//! default is chosen from the step's size ([`threads_for_batch`], rule and
//! measurements in docs/design.md §8); `meltr --threads N` overrides it, as
//! does rayon's own `RAYON_NUM_THREADS`.

use crate::error::{Error, Result};

/// Examples per step from which the matrix products are split over every
/// core (docs/design.md §8: on an idle 2-core machine one thread was faster
/// on both built-in backbones up to 256 examples; at 512 two threads won on
/// the digits classifier, and at 1024 they drew on the video-text model).
pub const PARALLEL_FROM_BATCH: usize = 512;

/// The default thread count for steps of `batch` examples: one below
/// [`PARALLEL_FROM_BATCH`], every core from it.
pub fn threads_for_batch(batch: usize) -> usize {
    if batch >= PARALLEL_FROM_BATCH {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        1
    }
}

/// Sizes rayon's global pool to `n` threads. It can be sized once per
/// process, before the first matrix product: a later call with another
/// count is an error naming both.
pub fn use_threads(n: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::InvalidSetting {
            field: "--threads".into(),
            value: "0".into(),
            reason: "at least one thread".into(),
        });
    }
    match rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
    {
        Ok(()) => Ok(()),
        Err(_) if rayon::current_num_threads() == n => Ok(()),
        Err(_) => Err(Error::InvalidSetting {
            field: "--threads".into(),
            value: n.to_string(),
            reason: format!(
                "the thread pool already runs {} threads",
                rayon::current_num_threads()
            ),
        }),
    }
}

/// The default for steps of `batch` examples, unless the pool is sized
/// already (by `--threads`) or `RAYON_NUM_THREADS` is set. Returns the
/// pool's thread count.
pub fn use_default_threads(batch: usize) -> usize {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Already sized (an explicit `--threads`): that count stays.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads_for_batch(batch))
            .build_global();
    }
    rayon::current_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_steps_run_on_one_thread_large_ones_on_every_core() {
        assert_eq!(threads_for_batch(1), 1);
        assert_eq!(threads_for_batch(PARALLEL_FROM_BATCH - 1), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(threads_for_batch(PARALLEL_FROM_BATCH), cores);
    }
}
