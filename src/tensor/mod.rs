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
mod param_vec;

pub use adam::{Adam, AdamConfig};
pub use param_vec::ParamVec;

/// The tensor device: dfdx's `AutoDevice` (CUDA when built with `--features cuda`).
pub type Dev = dfdx::prelude::AutoDevice;

thread_local! {
    static DEVICE: Dev = Dev::default();
}

/// This thread's device. Every model and head built through the library
/// shares it: tensors that meet in one operation must live on one device,
/// and a CUDA device is costly to create (a context, a BLAS handle, kernels).
pub fn device() -> Dev {
    DEVICE.with(Dev::clone)
}
