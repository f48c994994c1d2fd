//! [`Shard`]: where a batch sits in the global batch of a data-parallel
//! step, and the ranks that hold the rest of it — what a task needs to
//! compute the global batch's loss from its own rows (docs/design.md §7).

use super::Communicator;
use crate::error::Result;
use std::ops::Range;
use std::sync::Arc;

/// Rank `rank`'s contiguous share of `items` among `size` ranks (the first
/// `len % size` ranks take one more).
pub fn shard_of<T>(items: &[T], rank: usize, size: usize) -> &[T] {
    &items[shard_range(items.len(), rank, size)]
}

/// The positions of [`shard_of`]'s share of `len` items.
pub fn shard_range(len: usize, rank: usize, size: usize) -> Range<usize> {
    let (base, extra) = (len / size, len % size);
    let start = rank * base + rank.min(extra);
    start..start + base + usize::from(rank < extra)
}

/// A batch's place in its step's global batch of `global` examples: the
/// rows [`shard_range`] gives its rank of `comm`, the other rows held by
/// the other ranks. The default is the whole batch in one process, where
/// every method below is the identity and sends nothing.
#[derive(Clone, Default)]
pub struct Shard {
    /// `None`: the batch is the whole global batch.
    part: Option<Part>,
}

#[derive(Clone)]
struct Part {
    offset: usize,
    global: usize,
    comm: Arc<dyn Communicator>,
}

impl Shard {
    /// This rank's rows of a global batch of `global` examples split over
    /// `comm`'s ranks. One rank holds the whole batch: no shard.
    pub fn of(comm: Arc<dyn Communicator>, global: usize) -> Shard {
        let part = (comm.size() > 1).then(|| Part {
            offset: shard_range(global, comm.rank(), comm.size()).start,
            global,
            comm,
        });
        Shard { part }
    }

    /// Whether the batch is the whole global batch (one process).
    pub fn is_whole(&self) -> bool {
        self.part.is_none()
    }

    /// This process's rank (0 in one process).
    pub fn rank(&self) -> usize {
        self.part.as_ref().map_or(0, |p| p.comm.rank())
    }

    /// Index in the global batch of this batch's first example.
    pub fn offset(&self) -> usize {
        self.part.as_ref().map_or(0, |p| p.offset)
    }

    /// Examples in the global batch, of which this batch holds `local`.
    pub fn global(&self, local: usize) -> usize {
        self.part.as_ref().map_or(local, |p| p.global)
    }

    /// The global batch's rows this batch holds, of `local` examples.
    pub fn rows(&self, local: usize) -> Range<usize> {
        self.offset()..self.offset() + local
    }

    /// Every rank's rows of a tensor with `per_row` values per example,
    /// in rank order (the rows of the global batch in order, as shards are
    /// contiguous): `[local]` in one process. One collective: every rank's
    /// length follows from its rows.
    pub fn all_gather(&self, local: &[f32], per_row: usize) -> Result<Vec<Vec<f32>>> {
        let Some(p) = &self.part else {
            return Ok(vec![local.to_vec()]);
        };
        let size = p.comm.size();
        let counts: Vec<usize> = (0..size)
            .map(|r| shard_range(p.global, r, size).len() * per_row)
            .collect();
        p.comm.all_gather(local, &counts)
    }

    /// Every rank's `local`, whatever their lengths, in rank order: two
    /// collectives (the lengths, then the values).
    pub fn all_gather_uneven(&self, local: &[f32]) -> Result<Vec<Vec<f32>>> {
        let Some(p) = &self.part else {
            return Ok(vec![local.to_vec()]);
        };
        let size = p.comm.size();
        // A length is exact in f32 below 2^24 values.
        let lens = p.comm.all_gather(&[local.len() as f32], &vec![1; size])?;
        let counts: Vec<usize> = lens.iter().map(|n| n[0] as usize).collect();
        p.comm.all_gather(local, &counts)
    }

    /// The sum over the ranks of `values`, in place.
    pub fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()> {
        match &self.part {
            None => Ok(()),
            Some(p) => p.comm.all_reduce_sum(values),
        }
    }
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.part {
            None => write!(f, "Shard(whole)"),
            Some(p) => write!(
                f,
                "Shard(rows {}.. of {}, rank {} of {})",
                p.offset,
                p.global,
                p.comm.rank(),
                p.comm.size()
            ),
        }
    }
}

/// Two shards are equal when they are the same rows of the same size of
/// global batch (the transport is not compared).
impl PartialEq for Shard {
    fn eq(&self, other: &Shard) -> bool {
        let key = |s: &Shard| s.part.as_ref().map(|p| (p.offset, p.global));
        key(self) == key(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distributed::LocalGroup;

    #[test]
    fn shards_cover_the_batch_in_order_and_differ_by_at_most_one() {
        for n in 0..12 {
            for size in 1..5 {
                let items: Vec<usize> = (0..n).collect();
                let shards: Vec<&[usize]> = (0..size).map(|r| shard_of(&items, r, size)).collect();
                assert_eq!(shards.concat(), items);
                let lens: Vec<usize> = shards.iter().map(|s| s.len()).collect();
                assert!(lens.iter().max().unwrap() - lens.iter().min().unwrap() <= 1);
            }
        }
    }

    #[test]
    fn a_whole_batch_gathers_itself_and_a_shard_gathers_every_rank_in_order() {
        let whole = Shard::default();
        assert!(whole.is_whole());
        assert_eq!(
            whole.all_gather(&[1.0, 2.0], 1).unwrap(),
            vec![vec![1.0, 2.0]]
        );
        assert_eq!(
            (whole.offset(), whole.global(5), whole.rows(5)),
            (0, 5, 0..5)
        );
        // 7 rows of 2 values over 3 ranks: rows 0..3, 3..5, 5..7.
        let got = LocalGroup::run(3, |c| {
            let r = c.rank();
            let shard = Shard::of(Arc::new(c), 7);
            let rows = shard.rows(shard_range(7, r, 3).len());
            // one value -0.0 on every rank: the bits must arrive
            let mine: Vec<f32> = (2 * rows.start..2 * rows.end)
                .map(|i| if i == 2 * rows.start { -0.0 } else { i as f32 })
                .collect();
            (rows, shard.all_gather(&mine, 2).unwrap())
        });
        for (r, (rows, all)) in got.into_iter().enumerate() {
            assert_eq!(rows, [0..3, 3..5, 5..7][r].clone());
            assert_eq!(
                all,
                vec![
                    vec![-0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
                    vec![-0.0, 7.0, 8.0, 9.0],
                    vec![-0.0, 11.0, 12.0, 13.0]
                ]
            );
            assert!(all.iter().all(|v| v[0].is_sign_negative()), "bits kept");
        }
    }

    #[test]
    fn a_rank_sending_other_than_its_rows_is_refused_naming_it() {
        let got = LocalGroup::run(2, |c| {
            let shard = Shard::of(Arc::new(c), 4);
            shard.all_gather(&[1.0; 3], 1)
        });
        for (r, g) in got.into_iter().enumerate() {
            let e = g.unwrap_err().to_string();
            assert!(e.contains(&format!("values rank {r} sends")), "{e}");
        }
    }

    /// A transport with only an all-reduce: the trait's all-gather.
    struct ReduceOnly(LocalGroup);

    impl Communicator for ReduceOnly {
        fn rank(&self) -> usize {
            self.0.rank()
        }
        fn size(&self) -> usize {
            self.0.size()
        }
        fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()> {
            self.0.all_reduce_sum(values)
        }
        fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()> {
            self.0.broadcast(values, root)
        }
        fn name(&self) -> &str {
            "reduce-only"
        }
    }

    #[test]
    fn the_default_all_gather_is_exact_for_uneven_and_long_buffers() {
        // Uneven lengths, one of them empty.
        let lens = [3usize, 5000, 0];
        let value = |r: usize, i: usize| (r as f32 + 1.0) * 1.000_000_1f32.powi(i as i32) - 0.3;
        let got = LocalGroup::run(3, |c| {
            let r = c.rank();
            let mine: Vec<f32> = (0..lens[r]).map(|i| value(r, i)).collect();
            ReduceOnly(c).all_gather(&mine, &lens).unwrap()
        });
        for all in got {
            for (r, v) in all.iter().enumerate() {
                let want: Vec<f32> = (0..lens[r]).map(|i| value(r, i)).collect();
                assert_eq!(v, &want, "rank {r}'s values");
            }
        }
    }
}
