//! Device-side numerics shared by the backbone and the heads: the dfdx
//! device, flat parameter vectors, and the Adam that updates them.
//!
//! Every parameter set the trainer optimises — the backbone's `w` and a
//! learned combinator's `φ` — is one [`ParamVec`] on one device, so a
//! training step moves only loss values across to the host, on the CPU and
//! with `--features cuda` alike.
//!
//! ```
//! use meltr::tensor::{device, Adam, AdamConfig, ParamVec};
//! let dev = device();
//! let mut w = ParamVec::from_vec(&dev, vec![1.0, -1.0]);
//! let mut adam = Adam::new(AdamConfig { lr: 0.1, ..Default::default() }, &w);
//! adam.step(&mut w, &ParamVec::from_vec(&dev, vec![2.0, -3.0])).unwrap();
//! let w = w.to_vec();
//! assert!((w[0] - 0.9).abs() < 1e-6 && (w[1] + 0.9).abs() < 1e-6);
//! ```

mod adam;
mod clip;
mod cross_entropy;
mod device_buffer;
#[cfg(not(feature = "cuda"))]
pub mod fused;
mod param_vec;
pub mod threads;
pub mod vector;

pub use adam::{Adam, AdamConfig};
pub use clip::GradClip;
pub use cross_entropy::{cross_entropy_with_logits, Targets};
pub use device_buffer::{DeviceBuffer, Storage};
pub use param_vec::{ParamBlock, ParamVec};

/// The tensor device: dfdx's `AutoDevice` (CUDA when built with `--features cuda`).
pub type Dev = dfdx::prelude::AutoDevice;

thread_local! {
    static DEVICE: Dev = new_device();
}

#[cfg(not(feature = "cuda"))]
fn new_device() -> Dev {
    Dev::default()
}

#[cfg(feature = "cuda")]
fn new_device() -> Dev {
    let ordinal = cuda_ordinal();
    Dev::try_build(ordinal, 0)
        .unwrap_or_else(|e| panic!("cannot start CUDA device {ordinal}: {e:?}"))
}

/// This process's rank among the ranks `mpirun` started on this machine (0
/// when it was not started by a launcher that says).
pub fn local_rank() -> usize {
    [
        "OMPI_COMM_WORLD_LOCAL_RANK",
        "MPI_LOCALRANKID",
        "SLURM_LOCALID",
    ]
    .iter()
    .filter_map(|v| std::env::var(v).ok())
    .find_map(|n| n.trim().parse().ok())
    .unwrap_or(0)
}

/// The GPU this process computes on: its rank among the processes `mpirun`
/// started on this machine, modulo the GPUs it sees (0 when it is alone), so
/// the ranks of a data-parallel run spread over a machine's GPUs.
#[cfg(feature = "cuda")]
pub fn cuda_ordinal() -> usize {
    local_rank() % cuda_device_count().max(1)
}

/// How many GPUs this process sees (0 when CUDA cannot say).
#[cfg(feature = "cuda")]
pub fn cuda_device_count() -> usize {
    cudarc::driver::CudaDevice::count().map_or(0, |n| n.max(0) as usize)
}

/// This thread's device. Every model and head built through the library
/// shares it: tensors that meet in one operation must live on one device,
/// and a CUDA device is costly to create (a context, a BLAS handle, kernels).
pub fn device() -> Dev {
    DEVICE.with(Dev::clone)
}
