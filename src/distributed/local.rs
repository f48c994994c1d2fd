//! Ranks as threads of one process, exchanging through shared memory: the
//! data-parallel code paths, tested without MPI.

use super::Communicator;
use crate::error::{Error, Result};
use std::sync::{Arc, Barrier, Mutex};

/// One rank of a group of threads; see [`LocalGroup::new`].
#[derive(Debug)]
pub struct LocalGroup {
    rank: usize,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    size: usize,
    barrier: Barrier,
    slots: Mutex<Vec<Vec<f32>>>,
}

impl LocalGroup {
    /// `size` communicators, one per rank: give each to its own thread.
    pub fn new(size: usize) -> Vec<LocalGroup> {
        let shared = Arc::new(Shared {
            size,
            barrier: Barrier::new(size),
            slots: Mutex::new(vec![vec![]; size]),
        });
        (0..size)
            .map(|rank| LocalGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    /// Runs `f` on `size` threads, each given its rank of one group, and
    /// returns their results in rank order (a rank's panic is re-raised).
    pub fn run<T: Send>(size: usize, f: impl Fn(LocalGroup) -> T + Sync) -> Vec<T> {
        let f = &f;
        std::thread::scope(|s| {
            let ranks: Vec<_> = LocalGroup::new(size)
                .into_iter()
                .map(|c| s.spawn(move || f(c)))
                .collect();
            ranks
                .into_iter()
                .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    }

    /// Every rank posts `values` (of any length); after the barrier each
    /// reads all posts in rank order.
    fn post_and_read(&self, values: &[f32]) -> Result<Vec<Vec<f32>>> {
        let lock = || {
            self.shared
                .slots
                .lock()
                .map_err(|_| Error::Backend("a rank of the local group panicked".into()))
        };
        lock()?[self.rank] = values.to_vec();
        self.shared.barrier.wait();
        let all = lock()?.clone();
        // Nobody posts the next round before everyone has read this one.
        self.shared.barrier.wait();
        Ok(all)
    }

    /// [`Self::post_and_read`] of buffers that must have one length (so
    /// every rank computes the same bits from them).
    fn exchange(&self, values: &[f32]) -> Result<Vec<Vec<f32>>> {
        let all = self.post_and_read(values)?;
        if all.iter().any(|v| v.len() != values.len()) {
            return Err(Error::Backend(format!(
                "ranks reduced buffers of different lengths: {:?}",
                all.iter().map(Vec::len).collect::<Vec<_>>()
            )));
        }
        Ok(all)
    }
}

impl Communicator for LocalGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()> {
        let all = self.exchange(values)?;
        for (i, v) in values.iter_mut().enumerate() {
            *v = all.iter().map(|r| r[i]).sum();
        }
        Ok(())
    }

    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()> {
        let all = self.exchange(values)?;
        values.copy_from_slice(&all[root]);
        Ok(())
    }

    fn name(&self) -> &str {
        "local"
    }

    fn all_gather(&self, local: &[f32], counts: &[usize]) -> Result<Vec<Vec<f32>>> {
        super::check_counts(self.rank(), self.size(), local, counts)?;
        self.post_and_read(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_weighted_means_and_broadcasts_agree_on_every_rank() {
        let results = LocalGroup::run(3, |c| {
            let r = c.rank() as f32;
            let mut s = vec![r, 10.0 * r];
            c.all_reduce_sum(&mut s).unwrap();
            // ranks hold means 0, 1, 2 over 1, 2, 3 examples
            let mut m = vec![r];
            c.all_reduce_weighted_mean(&mut m, r + 1.0).unwrap();
            let mut b = vec![r + 5.0];
            c.broadcast(&mut b, 2).unwrap();
            (s, m, b)
        });
        for (s, m, b) in results {
            assert_eq!(s, [3.0, 30.0]);
            assert!((m[0] - 8.0 / 6.0).abs() < 1e-6, "{m:?}");
            assert_eq!(b, [7.0]);
        }
    }
}
