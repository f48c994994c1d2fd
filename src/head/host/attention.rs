//! `nn.MultiheadAttention(d, 8)` self-attention on value (and tangent)
//! rows, and its reverse.

use super::backward::split_wb;
use super::linear::{linear, linear_back};
use super::HostHead;
use crate::head::preset::HEADS;
use crate::tensor::vector::{axpy, dot};

/// What the attention keeps for its reverse pass, per head `K × K`.
pub(super) struct AttnSaved {
    q: Vec<f32>,
    kk: Vec<f32>,
    v: Vec<f32>,
    /// Softmax probabilities, before and after the dropout mask.
    p: Vec<f32>,
    pd: Vec<f32>,
    /// Tangent: `dS`, the row sums `r = Σ_j P dS`, and `dP ⊙ mask`.
    ds: Vec<f32>,
    r: Vec<f32>,
    dpd: Vec<f32>,
}

impl HostHead {
    /// `nn.MultiheadAttention(d, 8)` self-attention on value (and tangent)
    /// rows, before the output projection: returns the merged heads.
    #[inline(always)]
    pub(super) fn attention(&self, x: &[f32], mask: Option<&[f32]>) -> (Vec<f32>, AttnSaved) {
        let (k, d, l) = (self.k, self.dims.d, self.layout);
        let tangent = x.len() > k * d;
        let dh = d / HEADS;
        let scale = 1.0 / (dh as f32).sqrt();
        let q = linear(
            x,
            self.part(l.in_proj_weight(0)),
            self.part(l.in_proj_bias(0)),
            k,
            d,
            d,
        );
        let kk = linear(
            x,
            self.part(l.in_proj_weight(1)),
            self.part(l.in_proj_bias(1)),
            k,
            d,
            d,
        );
        let v = linear(
            x,
            self.part(l.in_proj_weight(2)),
            self.part(l.in_proj_bias(2)),
            k,
            d,
            d,
        );
        let kk2 = HEADS * k * k;
        let mut s = AttnSaved {
            p: vec![0.0; kk2],
            pd: vec![0.0; kk2],
            ds: if tangent { vec![0.0; kk2] } else { Vec::new() },
            r: if tangent {
                vec![0.0; HEADS * k]
            } else {
                Vec::new()
            },
            dpd: if tangent { vec![0.0; kk2] } else { Vec::new() },
            q,
            kk,
            v,
        };
        let mut o = vec![0.0; x.len()];
        // Row `r`, head `h`: the `dh` columns of that head.
        let col = |r: usize, h: usize| r * d + h * dh..r * d + (h + 1) * dh;
        for h in 0..HEADS {
            for i in 0..k {
                let at = (h * k + i) * k;
                let qi = &s.q[col(i, h)];
                let mut row: Vec<f32> = (0..k).map(|j| scale * dot(qi, &s.kk[col(j, h)])).collect();
                let max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let mut sum = 0.0;
                for e in row.iter_mut() {
                    *e = (*e - max).exp();
                    sum += *e;
                }
                for (j, e) in row.iter().enumerate() {
                    let p = e / sum;
                    s.p[at + j] = p;
                    s.pd[at + j] = p * mask.map_or(1.0, |m| m[at + j]);
                }
                if tangent {
                    let dqi = &s.q[col(k + i, h)];
                    let mut r = 0.0;
                    for j in 0..k {
                        let ds =
                            scale * (dot(dqi, &s.kk[col(j, h)]) + dot(qi, &s.kk[col(k + j, h)]));
                        s.ds[at + j] = ds;
                        r += s.p[at + j] * ds;
                    }
                    s.r[h * k + i] = r;
                    for j in 0..k {
                        let dp = s.p[at + j] * (s.ds[at + j] - r);
                        s.dpd[at + j] = dp * mask.map_or(1.0, |m| m[at + j]);
                    }
                }
                for j in 0..k {
                    let (oi, vj) = (col(i, h), col(j, h));
                    axpy(&mut o[oi.clone()], s.pd[at + j], &s.v[vj.clone()]);
                    if tangent {
                        let (to, tv) = (col(k + i, h), col(k + j, h));
                        axpy(&mut o[to.clone()], s.dpd[at + j], &s.v[vj]);
                        axpy(&mut o[to], s.pd[at + j], &s.v[tv]);
                    }
                }
            }
        }
        (o, s)
    }

    /// Reverse of [`HostHead::attention`]: `∂/∂x` from the merged heads'
    /// gradient `go`; the projections' gradients go into `grads`.
    #[inline(always)]
    pub(super) fn attention_back(
        &self,
        go: &[f32],
        x: &[f32],
        s: &AttnSaved,
        mask: Option<&[f32]>,
        grads: Option<&mut [f32]>,
    ) -> Vec<f32> {
        let (k, d, l) = (self.k, self.dims.d, self.layout);
        let tangent = go.len() > k * d;
        let dh = d / HEADS;
        let scale = 1.0 / (dh as f32).sqrt();
        let col = |r: usize, h: usize| r * d + h * dh..r * d + (h + 1) * dh;
        let (mut gq, mut gk, mut gv) = (
            vec![0.0; go.len()],
            vec![0.0; go.len()],
            vec![0.0; go.len()],
        );
        let mut gp = vec![0.0; k];
        let mut gdp = vec![0.0; k];
        let mut gs = vec![0.0; k];
        let mut gds = vec![0.0; k];
        for h in 0..HEADS {
            for i in 0..k {
                let at = (h * k + i) * k;
                let m = |j: usize| mask.map_or(1.0, |m| m[at + j]);
                let goi = &go[col(i, h)];
                // O_i = Σ_j Pd_ij v_j (and dO_i = Σ_j dPd_ij v_j + Pd_ij dv_j).
                for j in 0..k {
                    let vj = &s.v[col(j, h)];
                    let mut gpd = dot(goi, vj);
                    axpy(&mut gv[col(j, h)], s.pd[at + j], goi);
                    if tangent {
                        let gdoi = &go[col(k + i, h)];
                        gdp[j] = dot(gdoi, vj) * m(j);
                        axpy(&mut gv[col(j, h)], s.dpd[at + j], gdoi);
                        gpd += dot(gdoi, &s.v[col(k + j, h)]);
                        axpy(&mut gv[col(k + j, h)], s.pd[at + j], gdoi);
                    }
                    gp[j] = gpd * m(j);
                }
                if tangent {
                    // dP_ij = P_ij (dS_ij − r_i).
                    let sum: f32 = (0..k).map(|j| s.p[at + j] * gdp[j]).sum();
                    let r = s.r[h * k + i];
                    for j in 0..k {
                        let ds = s.ds[at + j];
                        gds[j] = s.p[at + j] * (gdp[j] - sum);
                        gp[j] += gdp[j] * (ds - r) - sum * ds;
                    }
                }
                // Softmax.
                let inner: f32 = (0..k).map(|j| s.p[at + j] * gp[j]).sum();
                for j in 0..k {
                    gs[j] = s.p[at + j] * (gp[j] - inner);
                }
                // S = scale q kᵀ; dS = scale (dq kᵀ + q dkᵀ).
                for j in 0..k {
                    let (qi, kj) = (col(i, h), col(j, h));
                    axpy(&mut gq[qi.clone()], scale * gs[j], &s.kk[kj.clone()]);
                    axpy(&mut gk[kj.clone()], scale * gs[j], &s.q[qi.clone()]);
                    if tangent {
                        let (dqi, dkj) = (col(k + i, h), col(k + j, h));
                        let g = scale * gds[j];
                        axpy(&mut gq[dqi.clone()], g, &s.kk[kj.clone()]);
                        axpy(&mut gk[kj], g, &s.q[dqi]);
                        axpy(&mut gq[qi.clone()], g, &s.kk[dkj.clone()]);
                        axpy(&mut gk[dkj], g, &s.q[qi]);
                    }
                }
            }
        }
        let mut grads = grads;
        // The q, k, v parts of `in_proj_weight` and `in_proj_bias`.
        let mut back = |g: &[f32], part: usize| {
            let (w, b) = (l.in_proj_weight(part), l.in_proj_bias(part));
            let parts = grads.as_deref_mut().map(|gr| split_wb(gr, w.clone(), b));
            linear_back(g, x, self.part(w), parts, k, d, d)
        };
        let mut gx = back(&gq, 0);
        for (g, part) in [(&gk, 1), (&gv, 2)] {
            for (x, y) in gx.iter_mut().zip(back(g, part)) {
                *x += y;
            }
        }
        gx
    }
}
