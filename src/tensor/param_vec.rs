//! `ParamVec`: all of a model's or a head's parameters (or a gradient, or
//! a direction in parameter space) as one flat device vector.
//!
//! The hypergradient engine works only with these: `v = ∇_w L_out`,
//! `w ± εv`, Hessian-vector iterates. On a GPU every operation runs on the
//! device (no host copies); the CPU build does its reductions as host loops.
//!
//! ```
//! use meltr::tensor::{device, ParamVec};
//! let dev = device();
//! let mut a = ParamVec::from_vec(&dev, vec![3.0, 4.0]);
//! let b = ParamVec::from_vec(&dev, vec![1.0, 1.0]);
//! assert_eq!(a.norm(), 5.0);
//! assert_eq!(a.dot(&b), 7.0);
//! a.axpy(-1.0, &b); // a <- a - b
//! assert_eq!(a.to_vec(), vec![2.0, 3.0]);
//! ```

use super::Dev;
use crate::error::{Error, Result};
use dfdx::prelude::*;

/// A flat parameter-sized vector on the device. Cloning is cheap (shared
/// storage, copied on the first write).
#[derive(Clone, Debug)]
pub struct ParamVec(pub(crate) Tensor<(usize,), f32, Dev>);

impl ParamVec {
    /// A vector holding `values`.
    pub fn from_vec(dev: &Dev, values: Vec<f32>) -> ParamVec {
        ParamVec::from_slice(dev, &values)
    }

    /// A vector holding a copy of `values`.
    pub fn from_slice(dev: &Dev, values: &[f32]) -> ParamVec {
        // Copied into a buffer from dfdx's allocator rather than adopted:
        // dropped, an adopted `Vec` joins dfdx's buffer cache (which the
        // backbones turn on) and, as no dfdx allocation asked for it, stays
        // there; 200 warm-start steps of a head piled up 2 GB that way.
        let mut t = dev.zeros_like(&(values.len(),));
        if !values.is_empty() {
            t.copy_from(values);
        }
        ParamVec(t)
    }

    /// `n` zeros.
    pub fn zeros(dev: &Dev, n: usize) -> ParamVec {
        ParamVec(dev.zeros_like(&(n,)))
    }

    /// Zeros of the same length and device.
    pub fn zeros_like(&self) -> ParamVec {
        ParamVec(self.0.device().zeros_like(&(self.len(),)))
    }

    /// Wraps a device tensor.
    pub fn from_tensor(t: Tensor<(usize,), f32, Dev>) -> ParamVec {
        ParamVec(t)
    }

    /// The underlying device tensor.
    pub fn tensor(&self) -> &Tensor<(usize,), f32, Dev> {
        &self.0
    }

    /// Copies the values to the host.
    pub fn to_vec(&self) -> Vec<f32> {
        // dfdx 0.13 reads past the end of an empty tensor's buffer: the
        // empty vector (a combinator without parameters) is answered here,
        // as in the reductions below.
        if self.is_empty() {
            return vec![];
        }
        // `copy_into` is one memcpy on the CPU (dfdx's `as_vec` walks an
        // index per element: a quarter of a head update's time).
        let mut out = vec![0.0; self.len()];
        self.0.copy_into(&mut out);
        out
    }

    /// Number of scalars.
    pub fn len(&self) -> usize {
        self.0.shape().0
    }

    /// Whether it holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn check_len(&self, other: &ParamVec) -> Result<()> {
        if self.len() != other.len() {
            return Err(Error::Length {
                what: "parameter vector".into(),
                expected: self.len(),
                found: other.len(),
            });
        }
        Ok(())
    }

    /// `<self, other>`. Panics if the lengths differ (a programming error).
    pub fn dot(&self, other: &ParamVec) -> f32 {
        self.try_dot(other)
            .expect("ParamVec::dot on vectors of different lengths")
    }

    /// `<self, other>`, or an error on different lengths.
    pub fn try_dot(&self, other: &ParamVec) -> Result<f32> {
        self.check_len(other)?;
        if self.is_empty() {
            return Ok(0.0);
        }
        #[cfg(not(feature = "cuda"))]
        let d = host::dot(&self.to_vec(), &other.to_vec());
        #[cfg(feature = "cuda")]
        let d = (self.0.clone() * other.0.clone()).sum::<Rank0, _>().array();
        Ok(d)
    }

    /// Euclidean norm.
    pub fn norm(&self) -> f32 {
        if self.is_empty() {
            return 0.0;
        }
        #[cfg(not(feature = "cuda"))]
        let sq = {
            let v = self.to_vec();
            host::dot(&v, &v)
        };
        #[cfg(feature = "cuda")]
        let sq = self.0.clone().square().sum::<Rank0, _>().array();
        sq.sqrt()
    }

    /// `self <- self + alpha * x`, in place. Panics on different lengths.
    pub fn axpy(&mut self, alpha: f32, x: &ParamVec) {
        self.check_len(x)
            .expect("ParamVec::axpy on vectors of different lengths");
        self.0.axpy(1.0, &x.0, alpha);
    }

    /// `self + alpha * x` as a new vector. Panics on different lengths.
    pub fn add_scaled(&self, alpha: f32, x: &ParamVec) -> ParamVec {
        let mut out = self.clone();
        out.axpy(alpha, x);
        out
    }

    /// `self <- s * self`, in place.
    pub fn scale(&mut self, s: f32) {
        let z = self.0.clone();
        self.0.axpy(s, &z, 0.0);
    }

    /// Checks that the vector has `expected` entries, all finite; errors name
    /// it `what`. One reduction; the values are read back only to name the
    /// first bad one.
    pub fn check(&self, what: &str, expected: usize) -> Result<()> {
        if self.len() != expected {
            return Err(Error::Length {
                what: what.into(),
                expected,
                found: self.len(),
            });
        }
        if !self.is_finite() {
            return crate::error::check_finite(what, &self.to_vec(), expected);
        }
        Ok(())
    }

    /// Whether every entry is finite (no NaN, no infinity).
    pub fn is_finite(&self) -> bool {
        #[cfg(not(feature = "cuda"))]
        return self.to_vec().iter().all(|x| x.is_finite());
        // inf * 0 and NaN * 0 are NaN, so one reduction answers it.
        #[cfg(feature = "cuda")]
        return self.is_empty() || (self.0.clone() * 0.0).sum::<Rank0, _>().array().is_finite();
    }
}

/// The CPU build's reductions: one copy and a loop beat dfdx's generic
/// reductions there (each allocates a temporary and walks an index per
/// element); the CUDA build keeps them on the device.
#[cfg(not(feature = "cuda"))]
mod host {
    /// `Σ a_i b_i`, accumulated in f64 in eight lanes.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f64; 8];
        let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
        let tail: f64 = ac
            .remainder()
            .iter()
            .zip(bc.remainder())
            .map(|(x, y)| *x as f64 * *y as f64)
            .sum();
        for (x, y) in ac.zip(bc) {
            for i in 0..8 {
                acc[i] += x[i] as f64 * y[i] as f64;
            }
        }
        (acc.iter().sum::<f64>() + tail) as f32
    }
}

/// One named block of a flat parameter vector (a combinator's, a backbone's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamBlock {
    /// Name (for the MELTR head: the reference `state_dict` name).
    pub name: String,
    /// Shape in the reference layout (row-major).
    pub shape: Vec<usize>,
}

impl ParamBlock {
    /// Number of scalars in the block.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the block holds no scalars.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::ParamVec;
    use crate::tensor::device;

    #[test]
    fn the_empty_vector_reads_back_and_reduces() {
        let e = ParamVec::zeros(&device(), 0);
        assert_eq!(e.to_vec(), Vec::<f32>::new());
        assert_eq!(
            (e.norm(), e.dot(&e.clone()), e.is_finite()),
            (0.0, 0.0, true)
        );
    }

    #[test]
    fn is_finite_finds_one_bad_value() {
        let dev = device();
        assert!(ParamVec::from_vec(&dev, vec![1.0, -2.0]).is_finite());
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(!ParamVec::from_vec(&dev, vec![1.0, bad, 3.0]).is_finite());
        }
    }
}
