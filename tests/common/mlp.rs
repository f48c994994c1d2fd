//! A tiny tanh MLP in dfdx with K = 3 squared-error tasks, exactly as
//! `tests/reference/hypergrad/gen_hypergrad_vectors.py` defines it:
//! `h = tanh(x W1ᵀ + b1)`, `o = h W2ᵀ + b2`, `l_k = mean_b (o[b,k] − y[b,k])²`.

use super::u;
use dfdx::prelude::*;
use meltr::hypergrad::InnerModel;
use meltr::tensor::Dev;
use meltr::tensor::ParamVec;
use meltr::Result;

pub struct Mlp {
    dev: Dev,
    w1: Tensor<Rank2<8, 4>, f32, Dev>,
    b1: Tensor<Rank1<8>, f32, Dev>,
    w2: Tensor<Rank2<3, 8>, f32, Dev>,
    b2: Tensor<Rank1<3>, f32, Dev>,
}

pub struct Batch {
    pub x: Tensor<(usize, Const<4>), f32, Dev>,
    pub y: Tensor<(usize, Const<3>), f32, Dev>,
}

fn formula(seed: u64, t: u64, n: usize, scale: f64) -> Vec<f32> {
    (0..n)
        .map(|i| (scale * u(seed, t, i as u64)) as f32)
        .collect()
}

impl Mlp {
    /// Weights from the splitmix formula, seed 500.
    pub fn new() -> Mlp {
        let dev = Dev::default();
        let w = [
            formula(500, 0, 32, 0.5),
            formula(500, 1, 8, 0.1),
            formula(500, 2, 24, 0.35),
            formula(500, 3, 3, 0.1),
        ]
        .concat();
        let mut m = Mlp {
            w1: dev.zeros(),
            b1: dev.zeros(),
            w2: dev.zeros(),
            b2: dev.zeros(),
            dev,
        };
        m.set_flat(&w);
        m
    }

    fn set_flat(&mut self, w: &[f32]) {
        self.w1.copy_from(&w[..32]);
        self.b1.copy_from(&w[32..40]);
        self.w2.copy_from(&w[40..64]);
        self.b2.copy_from(&w[64..67]);
    }

    /// Batch `index` (0: A, 1: B) of 16 rows.
    pub fn batch(&self, index: u64) -> Batch {
        let x: Vec<f32> = (0..64)
            .map(|i| (2.0 * u(600 + index, 0, i)) as f32)
            .collect();
        let y: Vec<f32> = x
            .chunks(4)
            .flat_map(|r| {
                let r: Vec<f64> = r.iter().map(|v| *v as f64).collect();
                [(r[0] + r[1]).sin(), r[2] * r[3] * 0.5, (r[0] - r[3]).cos()].map(|v| v as f32)
            })
            .collect();
        Batch {
            x: self.dev.tensor_from_vec(x, (16, Const)),
            y: self.dev.tensor_from_vec(y, (16, Const)),
        }
    }

    fn forward<T: Tape<f32, Dev> + Merge<T>>(
        &self,
        x: Tensor<(usize, Const<4>), f32, Dev, T>,
        y: &Tensor<(usize, Const<3>), f32, Dev>,
    ) -> Tensor<Rank1<3>, f32, Dev, T> {
        let n = x.shape().0;
        let h = x.matmul(self.w1.retaped::<T>().permute::<Rank2<4, 8>, _>())
            + self.b1.retaped::<T>().broadcast_like(&(n, Const::<8>));
        let o = h
            .tanh()
            .matmul(self.w2.retaped::<T>().permute::<Rank2<8, 3>, _>())
            + self.b2.retaped::<T>().broadcast_like(&(n, Const::<3>));
        (o - y.clone()).square().mean::<Rank1<3>, Axis<0>>()
    }
}

fn grad_of<S: Shape>(g: &mut Gradients<f32, Dev>, t: &Tensor<S, f32, Dev>) -> Vec<f32> {
    g.try_alloc_for(t).unwrap();
    g.get(t).as_vec()
}

impl InnerModel for Mlp {
    type Batch = Batch;

    fn num_tasks(&self) -> usize {
        3
    }

    fn primary(&self) -> usize {
        0
    }

    fn params(&self) -> ParamVec {
        let w = [
            self.w1.as_vec(),
            self.b1.as_vec(),
            self.w2.as_vec(),
            self.b2.as_vec(),
        ]
        .concat();
        ParamVec::from_vec(&self.dev, w)
    }

    fn set_params(&mut self, w: &ParamVec) -> Result<()> {
        self.set_flat(&w.to_vec());
        Ok(())
    }

    fn losses(&self, b: &Batch, _seed: u64) -> Result<Vec<f32>> {
        Ok(self.forward(b.x.clone(), &b.y).as_vec())
    }

    fn weighted_grad(
        &self,
        b: &Batch,
        _seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, ParamVec)> {
        let l = self.forward(b.x.leaky_trace(), &b.y);
        let values = l.as_vec();
        let a = weights(&values)?;
        let a = self.dev.tensor_from_vec(a, (Const::<3>,));
        let mut g = (l * a).sum::<Rank0, _>().backward();
        let flat = [
            grad_of(&mut g, &self.w1),
            grad_of(&mut g, &self.b1),
            grad_of(&mut g, &self.w2),
            grad_of(&mut g, &self.b2),
        ]
        .concat();
        Ok((values, ParamVec::from_vec(&self.dev, flat)))
    }
}
