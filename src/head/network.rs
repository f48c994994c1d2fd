//! The MELTR head in dfdx, with forward-mode (tangent) propagation.
//!
//! Mirrors the PyTorch reference module (docs/design.md §1):
//!
//! ```text
//! token_k = loss_fc2(relu(loss_fc1([l_k]))) + task_embedding[k]     X: K x d
//! X = LayerNorm1(X + MultiheadAttention(X))   # nn.TransformerEncoderLayer,
//! X = LayerNorm2(X + linear2(relu(linear1(X)))) # post-norm, 8 heads, eps 1e-5
//! f = mean_k(X) @ fc1.weight^T                 # no bias, no activation
//! ```
//!
//! Every activation is a [`Dual`]: a value and, optionally, its tangent along
//! a direction `c` in loss space, both ordinary dfdx tensors on one tape.
//! The tangent output is `D_l f(l)[c]`; reverse mode through it gives the
//! head term `∂/∂φ D_l f(l)[c]` of docs/design.md §2 with no double backward
//! (`tests/head_reference.rs` checks it against JAX in f64).
//!
//! Widths are compile-time constants (`H1`, `D`, `F`); K is a runtime
//! `usize`. The parameters live in one flat device vector (what the meta
//! step's optimiser updates, on the device); the forward pass reads typed
//! copies of its blocks, cut where [`HeadLayout`] puts them,
//! `in_proj_{weight,bias}` as their three q, k, v parts.

use super::dropout::sample_masks;
use super::engine::{HeadEngine, HeadGrads};
use super::layout::{HeadLayout, Param};
use super::preset::{Dims, Preset, HEADS};
use crate::tensor::Dev;
use crate::tensor::ParamVec;
use dfdx::prelude::*;

const LN_EPS: f32 = 1e-5;

/// A value and its optional tangent, on the same tape type.
struct Dual<S: Shape, T> {
    v: Tensor<S, f32, Dev, T>,
    t: Option<Tensor<S, f32, Dev, T>>,
}

impl<S: Shape, T: Tape<f32, Dev> + Merge<T>> Dual<S, T> {
    /// A second handle on the same activation; the copy carries no history,
    /// so its gradient flows back through the original's tape.
    fn fork(&self) -> Self {
        Dual {
            v: self.v.retaped(),
            t: self.t.as_ref().map(|t| t.retaped()),
        }
    }

    fn add(self, other: Self) -> Self {
        Dual {
            v: self.v + other.v,
            t: match (self.t, other.t) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            },
        }
    }

    /// Multiplies value and tangent by a constant mask (dropout).
    fn mask(self, m: Option<&Tensor<S, f32, Dev>>) -> Self {
        match m {
            None => self,
            Some(m) => Dual {
                v: self.v * m.clone(),
                t: self.t.map(|t| t * m.clone()),
            },
        }
    }

    /// ReLU; its tangent is the input tangent where the value is positive.
    fn relu(self) -> Self {
        let t = self.t.map(|t| {
            let on = self.v.retaped::<NoneTape>().gt(0.0);
            let zeros = t.device().zeros_like(t.shape());
            on.choose(t, zeros)
        });
        Dual {
            v: self.v.relu(),
            t,
        }
    }
}

/// `x W^T (+ b)` for a batch of rows; the tangent is `t W^T`.
fn linear<const I: usize, const O: usize, T: Tape<f32, Dev> + Merge<T>>(
    x: Dual<(usize, Const<I>), T>,
    w: &Tensor<Rank2<O, I>, f32, Dev>,
    b: Option<&Tensor<Rank1<O>, f32, Dev>>,
) -> Dual<(usize, Const<O>), T> {
    let wt = || w.retaped::<T>().permute::<Rank2<I, O>, _>();
    let v = x.v.matmul(wt());
    let shape = *v.shape();
    let v = match b {
        Some(b) => v + b.retaped::<T>().broadcast_like(&shape),
        None => v,
    };
    Dual {
        v,
        t: x.t.map(|t| t.matmul(wt())),
    }
}

/// LayerNorm over the last axis (biased variance, eps 1e-5), with tangent
/// `g ⊙ (dxc/σ − x̂ · mean(x̂ ⊙ dxc)/σ)`, `dxc = dx − mean(dx)`.
fn layer_norm<const M: usize, T: Tape<f32, Dev> + Merge<T>>(
    x: Dual<(usize, Const<M>), T>,
    g: &Tensor<Rank1<M>, f32, Dev>,
    b: &Tensor<Rank1<M>, f32, Dev>,
) -> Dual<(usize, Const<M>), T> {
    let shape = *x.v.shape();
    let mean = x.v.retaped::<T>().mean::<(usize,), Axis<1>>();
    let xc = x.v - mean.broadcast_like(&shape);
    let var = xc.retaped::<T>().square().mean::<(usize,), Axis<1>>();
    let sigma = (var + LN_EPS).sqrt().broadcast_like(&shape);
    let sigma_c = sigma.retaped::<T>();
    let xhat = xc / sigma;
    let gain = || g.retaped::<T>().broadcast_like(&shape);
    let t = x.t.map(|dx| {
        let dmean = dx.retaped::<T>().mean::<(usize,), Axis<1>>();
        let dxc = dx - dmean.broadcast_like(&shape);
        let proj = (xhat.retaped::<T>() * dxc.retaped::<T>()).mean::<(usize,), Axis<1>>();
        let dxhat = (dxc - xhat.retaped::<T>() * proj.broadcast_like(&shape)) / sigma_c;
        dxhat * gain()
    });
    let v = xhat * gain() + b.retaped::<T>().broadcast_like(&shape);
    Dual { v, t }
}

/// Dropout masks of one forward pass (already scaled by `1/(1-p)`).
struct Masks<const D: usize, const F: usize> {
    attn: Tensor<(Const<HEADS>, usize, usize), f32, Dev>,
    attn_out: Tensor<(usize, Const<D>), f32, Dev>,
    ff_hidden: Tensor<(usize, Const<F>), f32, Dev>,
    ff_out: Tensor<(usize, Const<D>), f32, Dev>,
}

impl<const D: usize, const F: usize> Masks<D, F> {
    /// The masks of [`sample_masks`] as tensors.
    fn sample(dev: &Dev, k: usize, p: f32, seed: u64) -> Self {
        let m = sample_masks(k, D, F, p, seed);
        Masks {
            attn: dev.tensor_from_vec(m.attn, (Const, k, k)),
            attn_out: dev.tensor_from_vec(m.attn_out, (k, Const)),
            ff_hidden: dev.tensor_from_vec(m.ff_hidden, (k, Const)),
            ff_out: dev.tensor_from_vec(m.ff_out, (k, Const)),
        }
    }
}

/// The MELTR head with widths `H1` (scale embedding), `D` (model), `F`
/// (feed-forward), on device [`Dev`].
#[derive(Debug, Clone)]
pub struct Head<const H1: usize, const D: usize, const F: usize> {
    dev: Dev,
    k: usize,
    /// Every parameter, flat, in the reference layout; the blocks below are
    /// copies of its parts.
    flat: ParamVec,
    emb: Tensor<(usize, Const<D>), f32, Dev>,
    fc1_w: Tensor<Rank2<H1, 1>, f32, Dev>,
    fc1_b: Tensor<Rank1<H1>, f32, Dev>,
    fc2_w: Tensor<Rank2<D, H1>, f32, Dev>,
    fc2_b: Tensor<Rank1<D>, f32, Dev>,
    wq: Tensor<Rank2<D, D>, f32, Dev>,
    wk: Tensor<Rank2<D, D>, f32, Dev>,
    wv: Tensor<Rank2<D, D>, f32, Dev>,
    bq: Tensor<Rank1<D>, f32, Dev>,
    bk: Tensor<Rank1<D>, f32, Dev>,
    bv: Tensor<Rank1<D>, f32, Dev>,
    wo: Tensor<Rank2<D, D>, f32, Dev>,
    bo: Tensor<Rank1<D>, f32, Dev>,
    w1: Tensor<Rank2<F, D>, f32, Dev>,
    b1: Tensor<Rank1<F>, f32, Dev>,
    w2: Tensor<Rank2<D, F>, f32, Dev>,
    b2: Tensor<Rank1<D>, f32, Dev>,
    n1_g: Tensor<Rank1<D>, f32, Dev>,
    n1_b: Tensor<Rank1<D>, f32, Dev>,
    n2_g: Tensor<Rank1<D>, f32, Dev>,
    n2_b: Tensor<Rank1<D>, f32, Dev>,
    out_w: Tensor<Rank2<1, D>, f32, Dev>,
}

/// A [`Head`] for `$k` tasks over `$flat`, each block made by
/// `$block($args.., range, shape)` with the range [`HeadLayout`] gives it.
macro_rules! cut_blocks {
    ($k:expr, $flat:expr, $block:ident($($arg:expr),*)) => {{
        let (k, flat): (usize, ParamVec) = ($k, $flat);
        let l = HeadLayout::new(Dims { h1: H1, d: D, f: F, heads: HEADS }, k);
        assert_eq!(l.num_params(), flat.len(), "head parameter vector length");
        let at = |p: Param| l.range(p);
        Head {
            dev: flat.tensor().device().clone(),
            k,
            emb: $block($($arg,)* at(Param::TaskEmbedding), (k, Const)),
            fc1_w: $block($($arg,)* at(Param::LossFc1Weight), Default::default()),
            fc1_b: $block($($arg,)* at(Param::LossFc1Bias), Default::default()),
            fc2_w: $block($($arg,)* at(Param::LossFc2Weight), Default::default()),
            fc2_b: $block($($arg,)* at(Param::LossFc2Bias), Default::default()),
            wq: $block($($arg,)* l.in_proj_weight(0), Default::default()),
            wk: $block($($arg,)* l.in_proj_weight(1), Default::default()),
            wv: $block($($arg,)* l.in_proj_weight(2), Default::default()),
            bq: $block($($arg,)* l.in_proj_bias(0), Default::default()),
            bk: $block($($arg,)* l.in_proj_bias(1), Default::default()),
            bv: $block($($arg,)* l.in_proj_bias(2), Default::default()),
            wo: $block($($arg,)* at(Param::OutProjWeight), Default::default()),
            bo: $block($($arg,)* at(Param::OutProjBias), Default::default()),
            w1: $block($($arg,)* at(Param::Linear1Weight), Default::default()),
            b1: $block($($arg,)* at(Param::Linear1Bias), Default::default()),
            w2: $block($($arg,)* at(Param::Linear2Weight), Default::default()),
            b2: $block($($arg,)* at(Param::Linear2Bias), Default::default()),
            n1_g: $block($($arg,)* at(Param::Norm1Weight), Default::default()),
            n1_b: $block($($arg,)* at(Param::Norm1Bias), Default::default()),
            n2_g: $block($($arg,)* at(Param::Norm2Weight), Default::default()),
            n2_b: $block($($arg,)* at(Param::Norm2Bias), Default::default()),
            out_w: $block($($arg,)* at(Param::OutputWeight), Default::default()),
            flat,
        }
    }};
}

impl<const H1: usize, const D: usize, const F: usize> Head<H1, D, F> {
    /// The head for `k` tasks with parameters `flat` (in [`HeadLayout`]
    /// order; its length is checked by the caller).
    pub fn new(k: usize, flat: ParamVec) -> Self {
        let f = flat.tensor().clone();
        cut_blocks!(k, flat, block(&f))
    }

    /// A copy whose blocks are cut from the flat vector on a tape (returned
    /// with it): a backward through it leaves the gradient of every
    /// parameter in the flat vector's, in the reference layout, with no
    /// concatenation.
    fn traced(&self) -> (Self, OwnedTape<f32, Dev>) {
        let mut tape = OwnedTape::default();
        let head = cut_blocks!(
            self.k,
            self.flat.clone(),
            traced_block(&self.flat, &mut tape)
        );
        (head, tape)
    }

    /// Every parameter, flat, in the reference layout.
    pub fn params(&self) -> &ParamVec {
        &self.flat
    }

    /// The head's value (and tangent) for losses `l` (and direction `c`).
    fn forward<T: Tape<f32, Dev> + Merge<T>>(
        &self,
        l: Tensor<(usize,), f32, Dev, T>,
        c: Option<Tensor<(usize,), f32, Dev, T>>,
        masks: Option<&Masks<D, F>>,
    ) -> Dual<Rank0, T> {
        let k = self.k;
        let col = (k, Const::<1>);
        let x = Dual {
            v: l.reshape_like(&col),
            t: c.map(|c| c.reshape_like(&col)),
        };
        // Scale embedding, plus the task embedding (bias-free in the tangent).
        let x = linear(x, &self.fc1_w, Some(&self.fc1_b)).relu();
        let mut x = linear(x, &self.fc2_w, Some(&self.fc2_b));
        x.v = x.v + self.emb.retaped::<T>();
        // x = LN1(x + MHA(x))
        let a = self.attention(x.fork(), masks.map(|m| &m.attn));
        let a = a.mask(masks.map(|m| &m.attn_out));
        let x = layer_norm(x.add(a), &self.n1_g, &self.n1_b);
        // x = LN2(x + FF(x))
        let h = linear(x.fork(), &self.w1, Some(&self.b1)).relu();
        let h = h.mask(masks.map(|m| &m.ff_hidden));
        let y = linear(h, &self.w2, Some(&self.b2)).mask(masks.map(|m| &m.ff_out));
        let x = layer_norm(x.add(y), &self.n2_g, &self.n2_b);
        // Mean over tokens, bias-free output projection.
        let pool = |t: Tensor<(usize, Const<D>), f32, Dev, T>| {
            t.mean::<Rank1<D>, Axis<0>>()
                .matmul(self.out_w.retaped::<T>().permute::<Rank2<D, 1>, _>())
                .sum::<Rank0, _>()
        };
        Dual {
            v: pool(x.v),
            t: x.t.map(pool),
        }
    }

    /// PyTorch `nn.MultiheadAttention(d, 8)` self-attention, with tangents:
    /// `dS = (dQ Kᵀ + Q dKᵀ)/√dh`, `dP = P ⊙ (dS − Σ_j P ⊙ dS)`, `dO = dP V + P dV`.
    fn attention<T: Tape<f32, Dev> + Merge<T>>(
        &self,
        x: Dual<(usize, Const<D>), T>,
        mask: Option<&Tensor<(Const<HEADS>, usize, usize), f32, Dev>>,
    ) -> Dual<(usize, Const<D>), T> {
        let k = self.k;
        let dh = D / HEADS;
        let scale = 1.0 / (dh as f32).sqrt();
        let split = (k, Const::<HEADS>, dh);
        // (K, D) -> (H, K, dh) and (H, dh, K)
        let heads = |t: Tensor<(usize, Const<D>), f32, Dev, T>| {
            t.reshape_like(&split)
                .permute::<(Const<HEADS>, usize, usize), Axes3<1, 0, 2>>()
        };
        let heads_t = |t: Tensor<(usize, Const<D>), f32, Dev, T>| {
            t.reshape_like(&split)
                .permute::<(Const<HEADS>, usize, usize), Axes3<1, 2, 0>>()
        };
        let q = linear(x.fork(), &self.wq, Some(&self.bq));
        let kk = linear(x.fork(), &self.wk, Some(&self.bk));
        let v = linear(x, &self.wv, Some(&self.bv));
        let (q, dq) = (heads(q.v), q.t.map(heads));
        let (kt, dkt) = (heads_t(kk.v), kk.t.map(heads_t));
        let (v, dv) = (heads(v.v), v.t.map(heads));

        // Copies for the tangent; the originals carry the history into `p`.
        let (q_c, kt_c) = (q.retaped::<T>(), kt.retaped::<T>());
        let p = (q.matmul(kt) * scale).softmax::<Axis<2>>();
        let drop = |t: Tensor<(Const<HEADS>, usize, usize), f32, Dev, T>| match mask {
            Some(m) => t * m.clone(),
            None => t,
        };
        let o_t = match (dq, dkt, dv) {
            (Some(dq), Some(dkt), Some(dv)) => {
                let ds = (dq.matmul(kt_c) + q_c.matmul(dkt)) * scale;
                let shape = *ds.shape();
                let inner =
                    (p.retaped::<T>() * ds.retaped::<T>()).sum::<(Const<HEADS>, usize), Axis<2>>();
                let dp = drop(p.retaped::<T>() * (ds - inner.broadcast_like::<_, Axis<2>>(&shape)));
                Some(dp.matmul(v.retaped::<T>()) + drop(p.retaped::<T>()).matmul(dv))
            }
            _ => None,
        };
        let p = drop(p);
        let o = p.matmul(v);
        let merge = |o: Tensor<(Const<HEADS>, usize, usize), f32, Dev, T>| {
            o.permute::<(usize, Const<HEADS>, usize), Axes3<1, 0, 2>>()
                .reshape_like(&(k, Const::<D>))
        };
        let out = Dual {
            v: merge(o),
            t: o_t.map(merge),
        };
        linear(out, &self.wo, Some(&self.bo))
    }

    /// The head's value for losses `l`, with no tape.
    pub fn value(&self, losses: &[f32], dropout: Option<(f32, u64)>) -> f32 {
        let l = self.dev.tensor_from_vec(losses.to_vec(), (self.k,));
        let masks = dropout.map(|(p, s)| Masks::sample(&self.dev, self.k, p, s));
        self.forward::<NoneTape>(l, None, masks.as_ref()).v.as_vec()[0]
    }

    /// Backward through the value (no direction) or through the tangent
    /// `D_l f(l)[c]` (with direction `c`). Without `with_params`, `d_params`
    /// is left empty (the per-step evaluation needs only `∇_l`).
    pub fn backward(
        &self,
        losses: &[f32],
        direction: Option<&[f32]>,
        dropout: Option<(f32, u64)>,
        with_params: bool,
    ) -> HeadGrads {
        let l = self.dev.tensor_from_vec(losses.to_vec(), (self.k,));
        let c = direction.map(|c| self.dev.tensor_from_vec(c.to_vec(), (self.k,)));
        let masks = dropout.map(|(p, s)| Masks::sample(&self.dev, self.k, p, s));
        let (traced, blocks_tape) = with_params.then(|| self.traced()).unzip();
        let out = traced.as_ref().unwrap_or(self).forward(
            l.leaky_trace(),
            c.as_ref().map(|c| c.leaky_trace()),
            masks.as_ref(),
        );
        let (y, other) = match out.t {
            Some(t) => (t, Some(out.v)),
            None => (out.v, None),
        };
        let output = y.as_vec()[0];
        // Keep the value's tape in the graph (its gradient contribution is
        // zero): every activation's history then reaches the objective.
        let y = match other {
            Some(v) => y + v * 0.0,
            None => y,
        };
        let y = match blocks_tape {
            Some(t) => {
                let (y, yt) = y.split_tape();
                y.put_tape(yt.merge(t))
            }
            None => y,
        };
        let mut g = y.backward();
        let d_losses = grad_of(&mut g, &l).as_vec();
        let d_direction = c.as_ref().map(|c| grad_of(&mut g, c).as_vec());
        let d_params =
            with_params.then(|| ParamVec::from_tensor(grad_of(&mut g, self.flat.tensor())));
        HeadGrads {
            output,
            d_losses,
            d_direction: d_direction.unwrap_or_default(),
            d_params,
        }
    }
}

/// One compiled head per preset: the widths are type parameters.
#[derive(Debug, Clone)]
pub(crate) enum GraphHead {
    Univl(Head<128, 256, 512>),
    Violet(Head<256, 512, 512>),
    Allinone(Head<128, 128, 128>),
    Paper(Head<128, 512, 512>),
}

macro_rules! dispatch {
    ($any:expr, $h:ident => $body:expr) => {
        match $any {
            GraphHead::Univl($h) => $body,
            GraphHead::Violet($h) => $body,
            GraphHead::Allinone($h) => $body,
            GraphHead::Paper($h) => $body,
        }
    };
}

impl HeadEngine for GraphHead {
    fn new(preset: Preset, k: usize, flat: ParamVec) -> GraphHead {
        match preset {
            Preset::Univl => GraphHead::Univl(Head::new(k, flat)),
            Preset::Violet => GraphHead::Violet(Head::new(k, flat)),
            Preset::Allinone => GraphHead::Allinone(Head::new(k, flat)),
            Preset::Paper => GraphHead::Paper(Head::new(k, flat)),
        }
    }

    fn params(&self) -> &ParamVec {
        dispatch!(self, h => h.params())
    }

    fn value(&self, losses: &[f32], dropout: Option<(f32, u64)>) -> f32 {
        dispatch!(self, h => h.value(losses, dropout))
    }

    fn backward(
        &self,
        losses: &[f32],
        direction: Option<&[f32]>,
        dropout: Option<(f32, u64)>,
        with_params: bool,
    ) -> HeadGrads {
        dispatch!(self, h => h.backward(losses, direction, dropout, with_params))
    }
}

/// The block `at` of the flat vector `flat`, as a tensor of shape `shape`.
fn block<S: Shape>(
    flat: &Tensor<(usize,), f32, Dev>,
    at: std::ops::Range<usize>,
    shape: S,
) -> Tensor<S, f32, Dev> {
    assert_eq!(at.len(), shape.num_elements(), "head block size");
    flat.clone().slice((at,)).reshape_like(&shape)
}

/// A tensor's gradient, zero where the objective does not reach it (e.g.
/// `loss_fc1.bias` in a tangent: ReLU's derivative is a step).
fn grad_of<S: Shape>(g: &mut Gradients<f32, Dev>, t: &Tensor<S, f32, Dev>) -> Tensor<S, f32, Dev> {
    g.try_alloc_for(t).expect("gradient allocation");
    g.get(t)
}

/// [`block`] on a tape, gathered into `tape`; the block keeps the id of the
/// slice, so the gradient reaching it flows back into the flat vector's.
fn traced_block<S: Shape>(
    flat: &ParamVec,
    tape: &mut OwnedTape<f32, Dev>,
    at: std::ops::Range<usize>,
    shape: S,
) -> Tensor<S, f32, Dev> {
    assert_eq!(at.len(), shape.num_elements(), "head block size");
    let w = flat.tensor().retaped::<OwnedTape<f32, Dev>>();
    let (t, t_tape) = w.slice((at,)).reshape_like(&shape).split_tape();
    *tape = std::mem::take(tape).merge(t_tape);
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::layout::marked;
    use crate::tensor::device;

    /// Every typed block of the graph, with the tensor it should be cut
    /// from and where in that tensor it starts (written out here, apart
    /// from the constructor's list).
    fn blocks<const H1: usize, const D: usize, const F: usize>(
        h: &Head<H1, D, F>,
    ) -> Vec<(Param, usize, Vec<f32>)> {
        use Param::*;
        vec![
            (TaskEmbedding, 0, h.emb.as_vec()),
            (LossFc1Weight, 0, h.fc1_w.as_vec()),
            (LossFc1Bias, 0, h.fc1_b.as_vec()),
            (LossFc2Weight, 0, h.fc2_w.as_vec()),
            (LossFc2Bias, 0, h.fc2_b.as_vec()),
            (InProjWeight, 0, h.wq.as_vec()),
            (InProjWeight, D * D, h.wk.as_vec()),
            (InProjWeight, 2 * D * D, h.wv.as_vec()),
            (InProjBias, 0, h.bq.as_vec()),
            (InProjBias, D, h.bk.as_vec()),
            (InProjBias, 2 * D, h.bv.as_vec()),
            (OutProjWeight, 0, h.wo.as_vec()),
            (OutProjBias, 0, h.bo.as_vec()),
            (Linear1Weight, 0, h.w1.as_vec()),
            (Linear1Bias, 0, h.b1.as_vec()),
            (Linear2Weight, 0, h.w2.as_vec()),
            (Linear2Bias, 0, h.b2.as_vec()),
            (Norm1Weight, 0, h.n1_g.as_vec()),
            (Norm1Bias, 0, h.n1_b.as_vec()),
            (Norm2Weight, 0, h.n2_g.as_vec()),
            (Norm2Bias, 0, h.n2_b.as_vec()),
            (OutputWeight, 0, h.out_w.as_vec()),
        ]
    }

    /// The graph cuts each of its typed blocks from where the layout puts
    /// its tensor, and together they cover every tensor once.
    #[test]
    fn the_graph_cuts_each_block_where_the_layout_puts_it() {
        for l in marked::heads() {
            let preset = Preset::from_dims(l.dims()).unwrap();
            for (position, flat) in marked::fills(&l) {
                let head =
                    GraphHead::new(preset, l.num_tasks(), ParamVec::from_vec(&device(), flat));
                let found = dispatch!(&head, h => blocks(h));
                let mut covered = vec![0; Param::ALL.len()];
                for (p, from, values) in found {
                    marked::check("graph", p, from, &values, position);
                    covered[p.index()] += values.len();
                }
                for p in Param::ALL {
                    assert_eq!(covered[p.index()], l.range(p).len(), "{p:?}");
                }
            }
        }
    }
}
