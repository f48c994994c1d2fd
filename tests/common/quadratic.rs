//! Quadratic task losses `l_k(w) = ½ (w − t_k)ᵀ A_k (w − t_k)`: every
//! derivative is known in closed form, so hypergradients have exact answers.

use super::u;
use meltr::hypergrad::InnerModel;
use meltr::tensor::Dev;
use meltr::tensor::ParamVec;
use meltr::Result;

/// K quadratics in P dimensions; task 0 is the primary task.
pub struct Quadratic {
    pub a: Vec<Vec<Vec<f64>>>,
    pub t: Vec<Vec<f64>>,
    pub w: Vec<f32>,
    dev: Dev,
}

impl Quadratic {
    /// SPD `A_k = M Mᵀ / P + 0.5 I` and targets from the splitmix formula.
    pub fn new(p: usize, k: usize, seed: u64) -> Quadratic {
        let a = (0..k)
            .map(|kk| {
                let m: Vec<f64> = (0..p * p).map(|i| u(seed, kk as u64, i as u64)).collect();
                (0..p)
                    .map(|i| {
                        (0..p)
                            .map(|j| {
                                let dot: f64 = (0..p).map(|r| m[i * p + r] * m[j * p + r]).sum();
                                dot / p as f64 + if i == j { 0.5 } else { 0.0 }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let t = (0..k)
            .map(|kk| {
                (0..p)
                    .map(|i| 2.0 * u(seed + 1, kk as u64, i as u64))
                    .collect()
            })
            .collect();
        let w = (0..p).map(|i| u(seed + 2, 0, i as u64) as f32).collect();
        Quadratic {
            a,
            t,
            w,
            dev: Dev::default(),
        }
    }

    pub fn w64(&self) -> Vec<f64> {
        self.w.iter().map(|v| *v as f64).collect()
    }

    /// `l_k(w)` in f64.
    pub fn loss(&self, k: usize, w: &[f64]) -> f64 {
        let r: Vec<f64> = w.iter().zip(&self.t[k]).map(|(a, b)| a - b).collect();
        0.5 * dot(&r, &matvec(&self.a[k], &r))
    }

    /// `∇ l_k(w) = A_k (w − t_k)` in f64.
    pub fn grad(&self, k: usize, w: &[f64]) -> Vec<f64> {
        let r: Vec<f64> = w.iter().zip(&self.t[k]).map(|(a, b)| a - b).collect();
        matvec(&self.a[k], &r)
    }
}

pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn matvec(m: &[Vec<f64>], v: &[f64]) -> Vec<f64> {
    m.iter().map(|row| dot(row, v)).collect()
}

/// Solves `m x = b` by Gaussian elimination with partial pivoting.
pub fn solve(m: &[Vec<f64>], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut a: Vec<Vec<f64>> = m
        .iter()
        .zip(b)
        .map(|(r, v)| [r.clone(), vec![*v]].concat())
        .collect();
    for c in 0..n {
        let piv = (c..n)
            .max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))
            .unwrap();
        a.swap(c, piv);
        for r in 0..n {
            if r != c {
                let f = a[r][c] / a[c][c];
                for k in c..=n {
                    a[r][k] -= f * a[c][k];
                }
            }
        }
    }
    (0..n).map(|i| a[i][n] / a[i][i]).collect()
}

impl InnerModel for Quadratic {
    type Batch = ();

    fn num_tasks(&self) -> usize {
        self.a.len()
    }

    fn primary(&self) -> usize {
        0
    }

    fn params(&self) -> ParamVec {
        ParamVec::from_vec(&self.dev, self.w.clone())
    }

    fn set_params(&mut self, w: &ParamVec) -> Result<()> {
        self.w = w.to_vec();
        Ok(())
    }

    fn losses(&self, _: &(), _: u64) -> Result<Vec<f32>> {
        let w = self.w64();
        Ok((0..self.num_tasks())
            .map(|k| self.loss(k, &w) as f32)
            .collect())
    }

    fn weighted_grad(
        &self,
        _: &(),
        seed: u64,
        weights: &mut dyn FnMut(&[f32]) -> Result<Vec<f32>>,
    ) -> Result<(Vec<f32>, ParamVec)> {
        let l = self.losses(&(), seed)?;
        let a = weights(&l)?;
        let w = self.w64();
        let mut g = vec![0.0f64; w.len()];
        for (k, ak) in a.iter().enumerate() {
            for (gi, v) in g.iter_mut().zip(self.grad(k, &w)) {
                *gi += *ak as f64 * v;
            }
        }
        let g = g.iter().map(|v| *v as f32).collect();
        Ok((l, ParamVec::from_vec(&self.dev, g)))
    }
}
