//! Adam on a flat parameter vector, with PyTorch's `torch.optim.Adam`
//! semantics: weight decay is an L2 term added to the gradient.

use serde::{Deserialize, Serialize};

/// Adam state and settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adam {
    /// Learning rate.
    pub lr: f32,
    /// `(β1, β2)`.
    pub betas: (f32, f32),
    /// Denominator epsilon.
    pub eps: f32,
    /// L2 weight decay added to the gradient.
    pub weight_decay: f32,
    /// Steps taken.
    pub t: u64,
    /// First moment.
    pub m: Vec<f32>,
    /// Second moment.
    pub v: Vec<f32>,
}

impl Adam {
    /// Adam for `n` parameters (moments start at zero).
    pub fn new(n: usize, lr: f32, weight_decay: f32) -> Adam {
        Adam {
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            t: 0,
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }

    /// One update of `params` with gradient `grad`.
    pub fn step(&mut self, params: &mut [f32], grad: &[f32]) {
        assert_eq!(params.len(), self.m.len());
        assert_eq!(grad.len(), self.m.len());
        self.t += 1;
        let (b1, b2) = self.betas;
        let c1 = 1.0 - b1.powi(self.t as i32);
        let c2 = 1.0 - b2.powi(self.t as i32);
        for i in 0..params.len() {
            let g = grad[i] + self.weight_decay * params[i];
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g;
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g;
            let m_hat = self.m[i] / c1;
            let v_hat = self.v[i] / c2;
            params[i] -= self.lr * m_hat / (v_hat.sqrt() + self.eps);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_lr_against_the_gradient_sign() {
        // With zero moments, Adam's first step is lr · g/|g| (bias-corrected).
        let mut a = Adam::new(3, 0.01, 0.0);
        let mut p = vec![1.0, -2.0, 0.5];
        a.step(&mut p, &[3.0, -0.001, 0.0]);
        assert!(
            (p[0] - 0.99).abs() < 1e-6 && (p[1] + 1.99).abs() < 1e-5 && p[2] == 0.5,
            "{p:?}"
        );
    }

    #[test]
    fn matches_a_hand_rolled_second_step_with_weight_decay() {
        let mut a = Adam::new(1, 0.1, 0.5);
        let mut p = vec![2.0f32];
        a.step(&mut p, &[1.0]);
        a.step(&mut p, &[-1.0]);
        // Recompute in f64.
        let (mut x, mut m, mut v) = (2.0f64, 0.0, 0.0);
        for (t, g) in [(1, 1.0f64), (2, -1.0)] {
            let g = g + 0.5 * x;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let mh = m / (1.0 - 0.9f64.powi(t));
            let vh = v / (1.0 - 0.999f64.powi(t));
            x -= 0.1 * mh / (vh.sqrt() + 1e-8);
        }
        assert!((p[0] as f64 - x).abs() < 1e-6, "{} vs {x}", p[0]);
    }
}
