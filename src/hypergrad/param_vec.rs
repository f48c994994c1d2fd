//! A parameter-sized vector on the tensor device: the only state a meta step
//! keeps beyond an ordinary training step (DESIGN §2).

use crate::meltr::Dev;
use dfdx::prelude::*;

/// A flat vector of `f32`s with the few BLAS-1 operations strategies need.
#[derive(Debug, Clone)]
pub struct ParamVec(pub Tensor<(usize,), f32, Dev>);

impl ParamVec {
    /// A vector holding `values`.
    pub fn from_vec(dev: &Dev, values: Vec<f32>) -> ParamVec {
        let n = values.len();
        ParamVec(dev.tensor_from_vec(values, (n,)))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.shape().0
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The entries, copied to the host.
    pub fn to_vec(&self) -> Vec<f32> {
        self.0.as_vec()
    }

    /// `⟨self, other⟩`.
    pub fn dot(&self, other: &ParamVec) -> f32 {
        (self.0.clone() * other.0.clone()).sum::<Rank0, _>().array()
    }

    /// `‖self‖₂`.
    pub fn norm(&self) -> f32 {
        self.dot(self).sqrt()
    }

    /// `a · self + b · other`.
    pub fn lincomb(&self, a: f32, other: &ParamVec, b: f32) -> ParamVec {
        ParamVec(self.0.clone() * a + other.0.clone() * b)
    }

    /// `a · self`.
    pub fn scale(&self, a: f32) -> ParamVec {
        ParamVec(self.0.clone() * a)
    }

    /// Whether every entry is finite.
    pub fn is_finite(&self) -> bool {
        self.norm().is_finite()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blas1_matches_hand_computation() {
        let dev = Dev::default();
        let a = ParamVec::from_vec(&dev, vec![1.0, 2.0, 2.0]);
        let b = ParamVec::from_vec(&dev, vec![0.5, -1.0, 4.0]);
        assert_eq!(a.dot(&b), 0.5 - 2.0 + 8.0);
        assert_eq!(a.norm(), 3.0);
        assert_eq!(a.lincomb(2.0, &b, -1.0).to_vec(), vec![1.5, 5.0, 0.0]);
        assert_eq!(a.scale(0.5).to_vec(), vec![0.5, 1.0, 1.0]);
        assert!(!ParamVec::from_vec(&dev, vec![1.0, f32::NAN]).is_finite());
    }
}
