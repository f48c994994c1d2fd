//! NCCL (the `nccl` feature): parameter-sized all-reduces on the GPU.
//!
//! MPI still starts the ranks, hands rank 0's NCCL id to the others, and
//! carries the few host floats (the K losses, shard sizes, checksums); the
//! gradients — the only buffers that grow with the model — go through NCCL
//! from device memory to device memory, with no host round trip
//! (docs/design.md §7).

use super::on_device::weighted_mean_on_device;
use super::{Communicator, Mpi};
use crate::error::{Error, Result};
use crate::tensor::{cuda_device_count, cuda_ordinal, ParamVec};
use cudarc::driver::CudaDevice;
use cudarc::nccl::{Comm, Id, ReduceOp};
use mpi::topology::Communicator as _;
use mpi::traits::Root;

/// One rank of a run under `mpirun` whose gradients NCCL reduces.
pub struct Nccl {
    // Dropped first: NCCL's communicator goes before MPI is finalised.
    comm: Comm,
    mpi: Mpi,
}

impl std::fmt::Debug for Nccl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Nccl(rank {} of {}, GPU {})",
            self.rank(),
            self.size(),
            self.comm.device().ordinal()
        )
    }
}

impl Nccl {
    /// Initialises MPI (once per process), then NCCL on this rank's GPU
    /// ([`cuda_ordinal`], the one [`crate::tensor::device`] computes on).
    pub fn init() -> Result<Nccl> {
        let mpi = Mpi::init()?;
        let rank = mpi.rank();
        // NCCL refuses two ranks on one GPU ("duplicate GPU"): say so on
        // every rank, before any rank waits for the others in NCCL.
        let gpus = cuda_device_count();
        let mut without = [(crate::tensor::local_rank() >= gpus) as u8 as f32];
        mpi.all_reduce_sum(&mut without)?;
        if without[0] > 0.0 {
            return Err(Error::Backend(format!(
                "NCCL needs a GPU of its own for every rank: {} of {} ranks have none \
                 (this rank's machine has {gpus}); start at most one rank per GPU, or build \
                 with `mpi` alone to reduce through the host",
                without[0],
                mpi.size()
            )));
        }
        // Rank 0 makes the id; MPI carries its 128 bytes to the others.
        let mut bytes = [0 as std::ffi::c_char; 128];
        if rank == 0 {
            bytes = *Id::new()
                .map_err(nccl("making the communicator id"))?
                .internal();
        }
        mpi.world()
            .process_at_rank(0)
            .broadcast_into(&mut bytes[..]);
        let gpu = CudaDevice::new(cuda_ordinal()).map_err(nccl("CUDA device"))?;
        let comm = Comm::from_rank(gpu, rank, mpi.size(), Id::uninit(bytes))
            .map_err(nccl("joining the communicator"))?;
        Ok(Nccl { comm, mpi })
    }
}

/// Names what failed in an NCCL or CUDA driver error.
fn nccl<E: std::fmt::Debug>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| Error::Backend(format!("NCCL: {what}: {e:?}"))
}

impl Communicator for Nccl {
    fn rank(&self) -> usize {
        self.mpi.rank()
    }

    fn size(&self) -> usize {
        self.mpi.size()
    }

    fn all_reduce_sum(&self, values: &mut [f32]) -> Result<()> {
        self.mpi.all_reduce_sum(values)
    }

    fn broadcast(&self, values: &mut [f32], root: usize) -> Result<()> {
        self.mpi.broadcast(values, root)
    }

    // Gathered embeddings (B × D floats) cross through the host, as the
    // K losses do; only parameter-sized buffers stay on the device.
    fn all_gather(&self, local: &[f32], counts: &[usize]) -> Result<Vec<Vec<f32>>> {
        self.mpi.all_gather(local, counts)
    }

    fn name(&self) -> &str {
        "nccl"
    }

    fn all_reduce_weighted_mean_params(&self, values: &mut ParamVec, weight: f32) -> Result<()> {
        weighted_mean_on_device(&self.mpi, values, weight, |send, recv| {
            // Both buffers and NCCL's kernels are on the device's default
            // stream, so the reduction runs after the copy and before any
            // later read; synchronising surfaces its errors here.
            self.comm
                .all_reduce(send, recv, &ReduceOp::Sum)
                .map_err(nccl("all-reduce"))?;
            self.comm.device().synchronize().map_err(nccl("all-reduce"))
        })
    }
}
