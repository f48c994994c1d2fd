//! The first-order primitives of docs/design.md §2 over an [`InnerModel`], packaged
//! as the [`BilevelProblem`] a strategy sees during one meta step.
//!
//! * `v = ∇_w L_out`, `L_out = l_primary(w; A) + γ |Σ_k l_k(w; B) − f_φ(l(w; B))|`;
//! * `c = J v` by a central difference of the K losses along `v` (two
//!   tape-free forwards, same seed, step relative to `‖w‖/‖v‖`);
//! * `H u` by a central difference of `∇_w f_φ(l(w; B))` along `u`.
//!
//! Whatever happens, the model's parameters are restored before a primitive
//! returns.

use super::{BilevelProblem, InnerModel};
use crate::error::Result;
use crate::meta_loss::MetaLoss;
use crate::tensor::ParamVec;

/// Where an outer gradient was taken: what the regulariser's direct term needs.
#[derive(Debug, Clone, PartialEq)]
pub struct OuterPoint {
    /// The primary loss on the meta batch.
    pub primary: f32,
    /// The K losses on the training batch.
    pub losses: Vec<f32>,
    /// `sign(Σ_k l_k − f_φ(l))` (0 when equal).
    pub sign: f32,
}

/// Counts of the backbone passes a meta step made (for cost accounting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PassCount {
    /// Tape-free forward passes.
    pub forwards: usize,
    /// Forward + backward passes.
    pub backwards: usize,
}

/// One meta step's view of the backbone, the head and the two batches.
pub struct Problem<'a, M: InnerModel> {
    model: &'a mut M,
    head: &'a dyn MetaLoss,
    meta_batch: (&'a M::Batch, u64),
    train_batch: (&'a M::Batch, u64),
    gamma: f32,
    fd_step: f32,
    w: ParamVec,
    outer_at_w: Option<(ParamVec, OuterPoint)>,
    last_outer: Option<OuterPoint>,
    /// Passes made so far.
    pub passes: PassCount,
}

impl<'a, M: InnerModel> Problem<'a, M> {
    /// A problem at the model's current parameters. `fd_step` is the
    /// central-difference step relative to `‖w‖/‖direction‖` (docs/design.md §2: 1e-3).
    pub fn new(
        model: &'a mut M,
        head: &'a dyn MetaLoss,
        meta_batch: (&'a M::Batch, u64),
        train_batch: (&'a M::Batch, u64),
        gamma: f32,
        fd_step: f32,
    ) -> Self {
        let w = model.params();
        Problem {
            model,
            head,
            meta_batch,
            train_batch,
            gamma,
            fd_step,
            w,
            outer_at_w: None,
            last_outer: None,
            passes: PassCount::default(),
        }
    }

    /// Runs `f` with the parameters at `w + scale · dir`, then restores `w`.
    fn shifted<T>(
        &mut self,
        dir: &ParamVec,
        scale: f32,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        self.model.set_params(&self.w.add_scaled(scale, dir))?;
        let out = f(self);
        let restored = self.model.set_params(&self.w);
        let out = out?;
        restored?;
        Ok(out)
    }

    /// Central-difference step for a direction: `fd_step · max(‖w‖, 1) / ‖d‖`.
    fn step_for(&self, dir: &ParamVec) -> f32 {
        self.fd_step * self.w.norm().max(1.0) / dir.norm().max(f32::MIN_POSITIVE)
    }

    /// `∇_w L_out` at the model's current parameters, and where it was taken.
    fn outer_here(&mut self) -> Result<(ParamVec, OuterPoint)> {
        let (primary, g_primary) = self
            .model
            .primary_grad(self.meta_batch.0, self.meta_batch.1)?;
        self.passes.backwards += 1;
        let (head, gamma) = (self.head, self.gamma);
        let mut sign = 0.0;
        let (losses, g) = if gamma == 0.0 {
            self.passes.forwards += 1;
            let l = self.model.losses(self.train_batch.0, self.train_batch.1)?;
            (l, g_primary)
        } else {
            // ∇_w γ|Σ l − f(l)| = Σ_k γ·sign·(1 − a_k) ∇_w l_k.
            let (l, g_reg) =
                self.model
                    .weighted_grad(self.train_batch.0, self.train_batch.1, &mut |l| {
                        let e = head.eval(l)?;
                        sign = sign_of(l.iter().sum::<f32>() - e.value);
                        Ok(e.weights.iter().map(|a| gamma * sign * (1.0 - a)).collect())
                    })?;
            self.passes.backwards += 1;
            (l, g_primary.add_scaled(1.0, &g_reg))
        };
        let point = OuterPoint {
            primary,
            losses,
            sign,
        };
        self.last_outer = Some(point.clone());
        Ok((g, point))
    }

    /// The K training-batch losses at `w` (from the outer gradient when it
    /// was taken, else one tape-free forward).
    pub fn train_losses(&mut self) -> Result<Vec<f32>> {
        if let Some((_, p)) = &self.outer_at_w {
            return Ok(p.losses.clone());
        }
        self.passes.forwards += 1;
        self.model.losses(self.train_batch.0, self.train_batch.1)
    }

    /// `c = J v`: the directional derivative of the K training-batch losses
    /// along `v`, by central difference (two tape-free forwards).
    pub fn loss_jvp(&mut self, v: &ParamVec) -> Result<Vec<f32>> {
        let eps = self.step_for(v);
        let (batch, seed) = self.train_batch;
        let up = self.shifted(v, eps, |p| p.model.losses(batch, seed))?;
        let down = self.shifted(v, -eps, |p| p.model.losses(batch, seed))?;
        self.passes.forwards += 2;
        Ok(up
            .iter()
            .zip(&down)
            .map(|(a, b)| (a - b) / (2.0 * eps))
            .collect())
    }

    /// The point of the most recent outer gradient (for the direct term).
    pub fn last_outer_point(&self) -> Option<&OuterPoint> {
        self.last_outer.as_ref()
    }

    /// `∇_w f_φ(l(w; B))` at the current parameters.
    fn aux_grad_here(&mut self) -> Result<ParamVec> {
        let head = self.head;
        let (batch, seed) = self.train_batch;
        self.passes.backwards += 1;
        let (_, g) = self
            .model
            .weighted_grad(batch, seed, &mut |l| Ok(head.eval(l)?.weights))?;
        Ok(g)
    }
}

fn sign_of(x: f32) -> f32 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        0.0
    }
}

impl<M: InnerModel> BilevelProblem for Problem<'_, M> {
    fn outer_grad(&mut self) -> Result<ParamVec> {
        if let Some((v, p)) = &self.outer_at_w {
            self.last_outer = Some(p.clone());
            return Ok(v.clone());
        }
        let (v, p) = self.outer_here()?;
        self.outer_at_w = Some((v.clone(), p));
        Ok(v)
    }

    fn hessian_vector(&mut self, u: &ParamVec) -> Result<ParamVec> {
        let eps = self.step_for(u);
        let up = self.shifted(u, eps, |p| p.aux_grad_here())?;
        let down = self.shifted(u, -eps, |p| p.aux_grad_here())?;
        let mut diff = up.add_scaled(-1.0, &down);
        diff.scale(0.5 / eps);
        Ok(diff)
    }

    fn outer_grad_after_step(&mut self, lr: f32) -> Result<ParamVec> {
        let g = self.aux_grad_here()?;
        let (v, _) = self.shifted(&g, -lr, |p| p.outer_here())?;
        Ok(v)
    }
}
