//! MPI (the `mpi` feature): the ranks `mpirun` started, over `MPI_COMM_WORLD`.

use super::Communicator;
use crate::error::{Error, Result};
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::{Communicator as _, SimpleCommunicator};
use mpi::traits::{CommunicatorCollectives, Root};
use mpi::Count;

/// `MPI_COMM_WORLD`. MPI is initialised once per process, by
/// [`Mpi::init`], and finalised when this is dropped. A rank that dies
/// makes `mpirun` end the others (MPI's default error handler).
pub struct Mpi {
    world: SimpleCommunicator,
    // Dropped last: finalises MPI.
    _universe: mpi::environment::Universe,
}

impl std::fmt::Debug for Mpi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mpi(rank {} of {})", self.rank(), self.size())
    }
}

impl Mpi {
    /// Initialises MPI (once per process).
    pub fn init() -> Result<Mpi> {
        let universe = mpi::initialize()
            .ok_or_else(|| Error::Backend("MPI was already initialised in this process".into()))?;
        Ok(Mpi {
            world: universe.world(),
            _universe: universe,
        })
    }
}

impl Mpi {
    /// `MPI_COMM_WORLD`, for the NCCL transport's start-up.
    #[cfg(feature = "nccl")]
    pub(super) fn world(&self) -> &SimpleCommunicator {
        &self.world
    }
}

impl Communicator for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()> {
        let send = values.to_vec();
        self.world
            .all_reduce_into(&send[..], values, SystemOperation::sum());
        Ok(())
    }

    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()> {
        self.world
            .process_at_rank(root as i32)
            .broadcast_into(values);
        Ok(())
    }

    fn name(&self) -> &str {
        "mpi"
    }

    fn all_gather(&self, local: &[f32], counts: &[usize]) -> Result<Vec<Vec<f32>>> {
        super::check_counts(self.rank(), self.size(), local, counts)?;
        let counts: Vec<Count> = counts.iter().map(|&n| n as Count).collect();
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &n| {
                let d = *at;
                *at += n;
                Some(d)
            })
            .collect();
        let mut all = vec![0.0f32; counts.iter().sum::<Count>() as usize];
        let mut parts = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
        self.world.all_gather_varcount_into(local, &mut parts);
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&n, &d)| all[d as usize..(d + n) as usize].to_vec())
            .collect())
    }
}
