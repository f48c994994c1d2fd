//! `DeviceBuffer`: a parameter vector's values in dfdx's raw storage, for a
//! collective library that reads and writes device memory itself (NCCL).
//!
//! dfdx 0.13 keeps a tensor's storage private; the one public handle on raw
//! storage is a gradient buffer (`Gradients::get_or_alloc_mut`). So a copy
//! of `v` is made as the gradient of `⟨x, v⟩` with respect to `x` at
//! `x = v`: one backward pass writes `0 + 1·v`, which is `v` exactly, on
//! the device, without a host round trip. The storage is a `Vec<f32>` on
//! the CPU and a `cudarc::driver::CudaSlice<f32>` under `cuda` (both
//! through `Deref`).
//!
//! ```
//! use meltr::tensor::{device, DeviceBuffer, ParamVec};
//! let v = ParamVec::from_vec(&device(), vec![1.5, -2.0, 3.25]);
//! let mut buf = DeviceBuffer::copy_of(&v).unwrap();
//! assert_eq!(buf.to_param_vec().to_vec(), v.to_vec());
//! // On the CPU the storage is a `Vec<f32>` (under `cuda`, a `CudaSlice`).
//! #[cfg(not(feature = "cuda"))]
//! {
//!     buf.storage()[1] = 7.0;
//!     assert_eq!(buf.to_param_vec().to_vec(), vec![1.5, 7.0, 3.25]);
//! }
//! ```

use super::{Dev, ParamVec};
use crate::error::{Error, Result};
use dfdx::prelude::*;

/// dfdx's raw storage for `f32` on the build's device.
pub type Storage = <Dev as dfdx::tensor::Storage<f32>>::Vec;

/// A vector's values in one buffer of dfdx's raw storage; see the module
/// docs.
pub struct DeviceBuffer {
    grads: Gradients<f32, Dev>,
    // Names the buffer inside `grads` (its id and length).
    key: Tensor<(usize,), f32, Dev>,
}

impl DeviceBuffer {
    /// A copy of `values`, made on the device.
    pub fn copy_of(values: &ParamVec) -> Result<DeviceBuffer> {
        let key = values.0.clone();
        // The constant factor needs an id of its own (dfdx checks): `v·1`.
        let v = key.clone().try_mul(1.0).map_err(backend)?;
        // The product's gradient (another P floats) stays with it until this
        // is dropped: dfdx does not name tensor ids outside the crate.
        let grads = (key.leaky_trace() * v)
            .try_sum::<Rank0, _>()
            .map_err(backend)?
            .backward();
        Ok(DeviceBuffer { grads, key })
    }

    /// Zeros of the same length as `like`, on its device.
    pub fn zeros_like(like: &ParamVec) -> Result<DeviceBuffer> {
        let key = like.0.clone();
        let mut grads = Gradients::leaky();
        grads.try_alloc_for(&key).map_err(backend)?;
        Ok(DeviceBuffer { grads, key })
    }

    /// The storage, to hand to a collective library.
    pub fn storage(&mut self) -> &mut Storage {
        // Present by construction: `copy_of`'s backward reached the key, and
        // `zeros_like` allocated it.
        self.grads
            .get_or_alloc_mut(&self.key)
            .expect("the buffer was allocated when this was made")
    }

    /// The values as a parameter vector (a device-side copy).
    pub fn to_param_vec(&self) -> ParamVec {
        ParamVec(self.grads.get(&self.key))
    }
}

fn backend(e: impl std::fmt::Debug) -> Error {
    Error::Backend(format!("device buffer: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::device;

    #[test]
    fn a_copy_holds_the_values_bit_for_bit() {
        // Values whose products or sums would round, and extremes.
        let values = vec![
            0.1,
            -3.0e-38,
            1.0e38,
            f32::MIN_POSITIVE,
            -0.0,
            1.0 + f32::EPSILON,
            12345.678,
        ];
        let v = ParamVec::from_vec(&device(), values.clone());
        #[allow(unused_mut)]
        let mut buf = DeviceBuffer::copy_of(&v).unwrap();
        let bits = |xs: &[f32]| xs.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        // -0.0 comes back as +0.0 (0 + 1·(-0) = +0): equal as numbers.
        let mut expect = values.clone();
        expect[4] = 0.0;
        #[cfg(not(feature = "cuda"))]
        assert_eq!(bits(buf.storage()), bits(&expect));
        assert_eq!(bits(&buf.to_param_vec().to_vec()), bits(&expect));
    }

    // Writes through the storage as a host `Vec` (the CPU build).
    #[cfg(not(feature = "cuda"))]
    #[test]
    fn zeros_are_zero_and_writes_come_back() {
        let v = ParamVec::from_vec(&device(), vec![4.0; 5]);
        let mut buf = DeviceBuffer::zeros_like(&v).unwrap();
        assert_eq!(&buf.storage()[..], &[0.0; 5]);
        buf.storage().copy_from_slice(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(buf.to_param_vec().to_vec(), vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        // The key's own values are untouched.
        assert_eq!(v.to_vec(), vec![4.0; 5]);
    }
}
