//! The MELTR head on the host, written out by hand: the forward pass on
//! (value, tangent) rows and its reverse pass, for the CPU build.
//!
//! Why not dfdx here: the head sees K ≤ 16 rows, so each of its linear
//! layers is a matrix–vector product in disguise. dfdx hands every one to a
//! general GEMM that repacks the transposed weight matrix on each call, and
//! its backward allocates, zeroes and copies a weight-sized buffer for each
//! view of a weight; at K = 3 that was 70–90 % of the head's time
//! (docs/design.md §8). Here each weight row is read once per pass and dotted
//! with the K (or 2K) rows while it is in cache.
//!
//! The maths is the graph of [`super::network`] (which the CUDA build runs,
//! and which the tests below compare this file against), with every
//! activation kept as `2K` rows when a direction is given: rows `0..K` the
//! value, rows `K..2K` its tangent `D_l[c]`. The reverse pass takes seeds for
//! the value and the tangent output; the head term is the reverse pass of the
//! tangent alone (docs/design.md §2).

use super::network::{sample_masks, HeadGrads, MaskValues};
use super::preset::{Dims, Preset, HEADS};
use super::weights::param_shapes;
use crate::tensor::ParamVec;

const LN_EPS: f32 = 1e-5;

/// Where each parameter block starts in the flat reference layout.
#[derive(Debug, Clone, Copy)]
struct Offsets {
    emb: usize,
    fc1_w: usize,
    fc1_b: usize,
    fc2_w: usize,
    fc2_b: usize,
    wq: usize,
    wk: usize,
    wv: usize,
    bq: usize,
    bk: usize,
    bv: usize,
    wo: usize,
    bo: usize,
    w1: usize,
    b1: usize,
    w2: usize,
    b2: usize,
    n1_g: usize,
    n1_b: usize,
    n2_g: usize,
    n2_b: usize,
    out_w: usize,
    len: usize,
}

impl Offsets {
    fn new(dims: Dims, k: usize) -> Offsets {
        let sizes: Vec<usize> = param_shapes(dims, k)
            .iter()
            .map(|s| s.iter().product())
            .collect();
        let mut starts = vec![0; sizes.len() + 1];
        for (i, s) in sizes.iter().enumerate() {
            starts[i + 1] = starts[i] + s;
        }
        let d = dims.d;
        // in_proj_weight and in_proj_bias hold q, k, v one after another.
        Offsets {
            emb: starts[0],
            fc1_w: starts[1],
            fc1_b: starts[2],
            fc2_w: starts[3],
            fc2_b: starts[4],
            wq: starts[5],
            wk: starts[5] + d * d,
            wv: starts[5] + 2 * d * d,
            bq: starts[6],
            bk: starts[6] + d,
            bv: starts[6] + 2 * d,
            wo: starts[7],
            bo: starts[8],
            w1: starts[9],
            b1: starts[10],
            w2: starts[11],
            b2: starts[12],
            n1_g: starts[13],
            n1_b: starts[14],
            n2_g: starts[15],
            n2_b: starts[16],
            out_w: starts[17],
            len: starts[18],
        }
    }
}

/// The MELTR head with runtime widths, its parameters on the host.
#[derive(Debug, Clone)]
pub struct HostHead {
    dims: Dims,
    k: usize,
    at: Offsets,
    /// The parameters as the optimiser holds them.
    flat: ParamVec,
    /// The same values, read by the kernels.
    host: Vec<f32>,
    /// `∂/∂φ` is summed here and then copied into a buffer from dfdx's
    /// allocator: a fresh vector per call cost a page fault per 4 KiB twice
    /// over (this one and the copy), which made the head term 3-5x slower.
    grad: GradScratch,
}

/// A parameter-sized buffer kept between calls (empty in a clone).
#[derive(Debug, Default)]
struct GradScratch(std::sync::Mutex<Vec<f32>>);

impl Clone for GradScratch {
    fn clone(&self) -> GradScratch {
        GradScratch::default()
    }
}

/// `Σ a_i b_i` with 32 partial sums (four 8-lane registers), so that the
/// compiler vectorises it and the additions do not wait on each other.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 32];
    let (ac, bc) = (a.chunks_exact(32), b.chunks_exact(32));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..32 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0.0;
    for (x, y) in ar.iter().zip(br) {
        s += x * y;
    }
    for lane in 0..8 {
        s += (acc[lane] + acc[lane + 8]) + (acc[lane + 16] + acc[lane + 24]);
    }
    s
}

/// `y += a x`.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

/// `y[r][j] = x_r · w_j` for every row of `x` (width `i`) and every row of
/// `w` (`o` of them): the portable kernel.
#[inline(always)]
fn matmul_rows(x: &[f32], w: &[f32], y: &mut [f32], i: usize, o: usize) {
    let rows = x.len() / i;
    for (j, wj) in w.chunks_exact(i).enumerate() {
        for r in 0..rows {
            y[r * o + j] = dot(&x[r * i..(r + 1) * i], wj);
        }
    }
}

/// Reverse of [`matmul_rows`]: `gx += gy W`, and `gW += gyᵀ x` when `gw`
/// is given: the portable kernel.
#[inline(always)]
fn matmul_rows_back(
    gy: &[f32],
    x: &[f32],
    w: &[f32],
    gx: &mut [f32],
    mut gw: Option<&mut [f32]>,
    i: usize,
    o: usize,
) {
    let rows = x.len() / i;
    for (j, wj) in w.chunks_exact(i).enumerate() {
        for r in 0..rows {
            let a = gy[r * o + j];
            if a != 0.0 {
                axpy(&mut gx[r * i..(r + 1) * i], a, wj);
                if let Some(g) = gw.as_deref_mut() {
                    axpy(&mut g[j * i..(j + 1) * i], a, &x[r * i..(r + 1) * i]);
                }
            }
        }
    }
}

/// Whether this CPU has AVX2 and FMA, for the linear layers' kernels.
#[cfg(target_arch = "x86_64")]
fn fused_vectors() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// The linear layers' kernels with AVX2 and FMA: four rows of `x` per pass
/// over a weight row, so that each weight vector is loaded once for four
/// fused multiply-adds.
#[cfg(target_arch = "x86_64")]
mod fma {
    use std::arch::x86_64::*;

    /// The sum of the eight lanes.
    #[inline(always)]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_hadd_ps(s, s);
        _mm_cvtss_f32(_mm_hadd_ps(s, s))
    }

    /// [`super::matmul_rows`], two weight rows by four rows of `x` at a time:
    /// per eight lanes, two weight loads, four loads of `x` and eight
    /// multiply-adds into eight accumulators.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matmul_rows(x: &[f32], w: &[f32], y: &mut [f32], i: usize, o: usize) {
        let rows = x.len() / i;
        assert!(w.len() >= o * i && y.len() >= rows * o);
        let whole = i - i % 8;
        let mut j = 0;
        while j < o {
            let nj = (o - j).min(2);
            let wp: [*const f32; 2] =
                std::array::from_fn(|u| w.as_ptr().add((j + u.min(nj - 1)) * i));
            let mut r = 0;
            while r < rows {
                let nr = (rows - r).min(4);
                let xp: [*const f32; 4] =
                    std::array::from_fn(|q| x.as_ptr().add((r + q.min(nr - 1)) * i));
                let mut acc = [[_mm256_setzero_ps(); 2]; 4];
                let mut l = 0;
                while l < whole {
                    let wv = [_mm256_loadu_ps(wp[0].add(l)), _mm256_loadu_ps(wp[1].add(l))];
                    for q in 0..4 {
                        let xv = _mm256_loadu_ps(xp[q].add(l));
                        acc[q][0] = _mm256_fmadd_ps(xv, wv[0], acc[q][0]);
                        acc[q][1] = _mm256_fmadd_ps(xv, wv[1], acc[q][1]);
                    }
                    l += 8;
                }
                for q in 0..nr {
                    for u in 0..nj {
                        let mut s = hsum(acc[q][u]);
                        for t in whole..i {
                            s += *xp[q].add(t) * *wp[u].add(t);
                        }
                        y[(r + q) * o + j + u] = s;
                    }
                }
                r += nr;
            }
            j += nj;
        }
    }

    /// [`super::matmul_rows_back`], four weight rows by four rows of `x` at
    /// a time: per eight lanes, four weight loads, four loads and stores of
    /// `gx` and sixteen multiply-adds.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn matmul_rows_back(
        gy: &[f32],
        x: &[f32],
        w: &[f32],
        gx: &mut [f32],
        mut gw: Option<&mut [f32]>,
        i: usize,
        o: usize,
    ) {
        let rows = x.len() / i;
        assert!(w.len() >= o * i && gx.len() >= rows * i && gy.len() >= rows * o);
        if let Some(g) = gw.as_deref() {
            assert!(g.len() >= o * i);
        }
        let whole = i - i % 8;
        let mut j = 0;
        while j < o {
            let nj = (o - j).min(4);
            let wp: [*const f32; 4] =
                std::array::from_fn(|u| w.as_ptr().add((j + u.min(nj - 1)) * i));
            let gwp: Option<[*mut f32; 4]> = gw
                .as_deref_mut()
                .map(|g| std::array::from_fn(|u| g.as_mut_ptr().add((j + u.min(nj - 1)) * i)));
            let mut r = 0;
            while r < rows {
                let nr = (rows - r).min(4);
                // a[q][u] = gy[r + q][j + u]; rows and columns past the end are 0.
                let a: [[f32; 4]; 4] = std::array::from_fn(|q| {
                    std::array::from_fn(|u| {
                        if q < nr && u < nj {
                            gy[(r + q) * o + j + u]
                        } else {
                            0.0
                        }
                    })
                });
                // No closures around intrinsics: closures do not inherit
                // this function's target features.
                let mut av = [[_mm256_setzero_ps(); 4]; 4];
                for q in 0..4 {
                    for u in 0..4 {
                        av[q][u] = _mm256_set1_ps(a[q][u]);
                    }
                }
                let gp: [*mut f32; 4] =
                    std::array::from_fn(|q| gx.as_mut_ptr().add((r + q.min(nr - 1)) * i));
                let xp: [*const f32; 4] =
                    std::array::from_fn(|q| x.as_ptr().add((r + q.min(nr - 1)) * i));
                let mut l = 0;
                while l < whole {
                    let mut wv = [_mm256_setzero_ps(); 4];
                    for u in 0..4 {
                        wv[u] = _mm256_loadu_ps(wp[u].add(l));
                    }
                    // Rows past the end alias the last row with zero
                    // coefficients; updating them in order keeps it exact.
                    for q in 0..4 {
                        let mut g = _mm256_loadu_ps(gp[q].add(l));
                        for u in 0..4 {
                            g = _mm256_fmadd_ps(av[q][u], wv[u], g);
                        }
                        _mm256_storeu_ps(gp[q].add(l), g);
                    }
                    if let Some(gwp) = gwp {
                        let mut xv = [_mm256_setzero_ps(); 4];
                        for q in 0..4 {
                            xv[q] = _mm256_loadu_ps(xp[q].add(l));
                        }
                        for u in 0..4 {
                            let mut g = _mm256_loadu_ps(gwp[u].add(l));
                            for q in 0..4 {
                                g = _mm256_fmadd_ps(av[q][u], xv[q], g);
                            }
                            _mm256_storeu_ps(gwp[u].add(l), g);
                        }
                    }
                    l += 8;
                }
                for t in whole..i {
                    for q in 0..4 {
                        for u in 0..4 {
                            *gp[q].add(t) += a[q][u] * *wp[u].add(t);
                        }
                    }
                    if let Some(gwp) = gwp {
                        for u in 0..4 {
                            for q in 0..4 {
                                *gwp[u].add(t) += a[q][u] * *xp[q].add(t);
                            }
                        }
                    }
                }
                r += nr;
            }
            j += nj;
        }
    }
}

/// `y = x Wᵀ (+ b on the first `bias_rows` rows)` for `rows` rows of width
/// `i`; `w` is `o × i`, row-major (PyTorch's layout).
#[inline(always)]
fn linear(x: &[f32], w: &[f32], b: &[f32], bias_rows: usize, i: usize, o: usize) -> Vec<f32> {
    let rows = x.len() / i;
    let mut y = vec![0.0; rows * o];
    #[cfg(target_arch = "x86_64")]
    if fused_vectors() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        unsafe { fma::matmul_rows(x, w, &mut y, i, o) };
    } else {
        matmul_rows(x, w, &mut y, i, o);
    }
    #[cfg(not(target_arch = "x86_64"))]
    matmul_rows(x, w, &mut y, i, o);
    for r in 0..bias_rows {
        for (y, b) in y[r * o..(r + 1) * o].iter_mut().zip(b) {
            *y += b;
        }
    }
    y
}

/// Reverse of [`linear`]: returns `∂/∂x` and, when `grads` is given, adds
/// `∂/∂W` and `∂/∂b` (bias over the first `bias_rows` rows) into it.
#[inline(always)]
fn linear_back(
    gy: &[f32],
    x: &[f32],
    w: &[f32],
    grads: Option<(&mut [f32], &mut [f32])>,
    bias_rows: usize,
    i: usize,
    o: usize,
) -> Vec<f32> {
    let rows = x.len() / i;
    let mut gx = vec![0.0; rows * i];
    let (gw, gb) = grads.unzip();
    #[cfg(target_arch = "x86_64")]
    if fused_vectors() {
        // SAFETY: the CPU has AVX2 and FMA (checked at run time).
        unsafe { fma::matmul_rows_back(gy, x, w, &mut gx, gw, i, o) };
    } else {
        matmul_rows_back(gy, x, w, &mut gx, gw, i, o);
    }
    #[cfg(not(target_arch = "x86_64"))]
    matmul_rows_back(gy, x, w, &mut gx, gw, i, o);
    if let Some(gb) = gb {
        for (j, gb) in gb.iter_mut().enumerate() {
            *gb += (0..bias_rows).map(|r| gy[r * o + j]).sum::<f32>();
        }
    }
    gx
}

/// `x ⊙ m` row-wise for every `m.len()`-sized block of `x` (a dropout mask
/// shared by the value and the tangent rows).
#[inline(always)]
fn apply_mask(x: &mut [f32], m: Option<&[f32]>) {
    if let Some(m) = m {
        for block in x.chunks_exact_mut(m.len()) {
            for (x, m) in block.iter_mut().zip(m) {
                *x *= m;
            }
        }
    }
}

/// What a LayerNorm keeps for its reverse pass.
struct NormSaved {
    xhat: Vec<f32>,
    sigma: Vec<f32>,
    /// Tangent rows only: `dyc = dy − mean(dy)`, `p = mean(x̂ ⊙ dyc)`, `dx̂`.
    dyc: Vec<f32>,
    p: Vec<f32>,
    dxhat: Vec<f32>,
}

/// LayerNorm over rows of width `m` (biased variance): value rows `0..k`,
/// tangent rows `k..` (`dx̂ = (dyc − x̂ p)/σ`, output `g ⊙ dx̂`).
#[inline(always)]
fn layer_norm(y: &[f32], g: &[f32], b: &[f32], k: usize, m: usize) -> (Vec<f32>, NormSaved) {
    let tangent = y.len() > k * m;
    let mut out = vec![0.0; y.len()];
    let mut s = NormSaved {
        xhat: vec![0.0; k * m],
        sigma: vec![0.0; k],
        dyc: Vec::new(),
        p: Vec::new(),
        dxhat: Vec::new(),
    };
    let mf = m as f32;
    for r in 0..k {
        let row = &y[r * m..(r + 1) * m];
        let mean = row.iter().sum::<f32>() / mf;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / mf;
        let sigma = (var + LN_EPS).sqrt();
        s.sigma[r] = sigma;
        for j in 0..m {
            let xh = (row[j] - mean) / sigma;
            s.xhat[r * m + j] = xh;
            out[r * m + j] = xh * g[j] + b[j];
        }
    }
    if tangent {
        s.dyc = vec![0.0; k * m];
        s.p = vec![0.0; k];
        s.dxhat = vec![0.0; k * m];
        for r in 0..k {
            let dy = &y[(k + r) * m..(k + r + 1) * m];
            let dmean = dy.iter().sum::<f32>() / mf;
            let xh = &s.xhat[r * m..(r + 1) * m];
            let dyc = &mut s.dyc[r * m..(r + 1) * m];
            for (c, d) in dyc.iter_mut().zip(dy) {
                *c = d - dmean;
            }
            let p = dot(xh, dyc) / mf;
            s.p[r] = p;
            for j in 0..m {
                let dxh = (dyc[j] - xh[j] * p) / s.sigma[r];
                s.dxhat[r * m + j] = dxh;
                out[(k + r) * m + j] = dxh * g[j];
            }
        }
    }
    (out, s)
}

/// Reverse of [`layer_norm`]: `∂/∂y` (value and tangent rows); adds the
/// gain's and bias's gradients into `grads` when given.
#[inline(always)]
fn layer_norm_back(
    gout: &[f32],
    s: &NormSaved,
    g: &[f32],
    grads: Option<(&mut [f32], &mut [f32])>,
    k: usize,
    m: usize,
) -> Vec<f32> {
    let tangent = gout.len() > k * m;
    let mf = m as f32;
    let mut gy = vec![0.0; gout.len()];
    if let Some((gg, gb)) = grads {
        for r in 0..k {
            let gv = &gout[r * m..(r + 1) * m];
            for j in 0..m {
                gg[j] += gv[j] * s.xhat[r * m + j];
                gb[j] += gv[j];
            }
            if tangent {
                let gt = &gout[(k + r) * m..(k + r + 1) * m];
                for j in 0..m {
                    gg[j] += gt[j] * s.dxhat[r * m + j];
                }
            }
        }
    }
    let mut gxh = vec![0.0; m];
    let mut gdyc = vec![0.0; m];
    for r in 0..k {
        let xh = &s.xhat[r * m..(r + 1) * m];
        let sigma = s.sigma[r];
        for j in 0..m {
            gxh[j] = gout[r * m + j] * g[j];
        }
        let mut gsigma = 0.0;
        if tangent {
            let gt = &gout[(k + r) * m..(k + r + 1) * m];
            let dyc = &s.dyc[r * m..(r + 1) * m];
            let dxh = &s.dxhat[r * m..(r + 1) * m];
            let p = s.p[r];
            let mut gp = 0.0;
            for j in 0..m {
                let gdxh = gt[j] * g[j];
                gdyc[j] = gdxh / sigma;
                gxh[j] -= p * gdxh / sigma;
                gp -= gdxh * xh[j] / sigma;
                gsigma -= gdxh * dxh[j] / sigma;
            }
            for j in 0..m {
                gxh[j] += gp * dyc[j] / mf;
                gdyc[j] += gp * xh[j] / mf;
            }
            let mean = gdyc.iter().sum::<f32>() / mf;
            for j in 0..m {
                gy[(k + r) * m + j] = gdyc[j] - mean;
            }
        }
        let gsigma = gsigma - dot(&gxh, xh) / sigma;
        let gyc: Vec<f32> = (0..m)
            .map(|j| gxh[j] / sigma + gsigma * xh[j] / mf)
            .collect();
        let mean = gyc.iter().sum::<f32>() / mf;
        for j in 0..m {
            gy[r * m + j] = gyc[j] - mean;
        }
    }
    gy
}

/// What the attention keeps for its reverse pass, per head `K × K`.
struct AttnSaved {
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

/// The inputs of one forward pass.
struct Inputs<'a> {
    losses: &'a [f32],
    direction: Option<&'a [f32]>,
    masks: Option<&'a MaskValues>,
}

/// Everything the forward pass keeps for the reverse pass.
struct Tape {
    pre1: Vec<f32>,
    h1: Vec<f32>,
    x0: Vec<f32>,
    attn: AttnSaved,
    o: Vec<f32>,
    n1: NormSaved,
    x1: Vec<f32>,
    hf_pre: Vec<f32>,
    hf: Vec<f32>,
    n2: NormSaved,
    x2: Vec<f32>,
}

impl HostHead {
    /// The head of `preset`'s widths for `k` tasks over `flat` (reference
    /// layout; its length is checked by the caller).
    pub fn new(preset: Preset, k: usize, flat: ParamVec) -> HostHead {
        let dims = preset.dims();
        let at = Offsets::new(dims, k);
        let host = flat.to_vec();
        assert_eq!(host.len(), at.len, "head parameter vector length");
        HostHead {
            dims,
            k,
            at,
            flat,
            host,
            grad: GradScratch::default(),
        }
    }

    /// Every parameter, flat, in the reference layout.
    pub fn params(&self) -> &ParamVec {
        &self.flat
    }

    fn block(&self, start: usize, len: usize) -> &[f32] {
        &self.host[start..start + len]
    }

    /// The forward pass: value (and tangent) rows of every activation.
    #[inline(always)]
    fn forward(&self, inp: &Inputs) -> Tape {
        let Dims { h1, d, f, .. } = self.dims;
        let (k, a) = (self.k, self.at);
        let rows = if inp.direction.is_some() { 2 * k } else { k };
        let masks = inp.masks;
        // Scale embedding; the tangent rows carry `c` and no bias.
        let fc1_w = self.block(a.fc1_w, h1);
        let fc1_b = self.block(a.fc1_b, h1);
        let mut pre1 = vec![0.0; rows * h1];
        for r in 0..k {
            for j in 0..h1 {
                pre1[r * h1 + j] = inp.losses[r] * fc1_w[j] + fc1_b[j];
            }
        }
        if let Some(c) = inp.direction {
            for r in 0..k {
                for j in 0..h1 {
                    pre1[(k + r) * h1 + j] = c[r] * fc1_w[j];
                }
            }
        }
        let mut h1v = pre1.clone();
        relu_rows(&mut h1v, &pre1, k * h1);
        let mut x0 = linear(
            &h1v,
            self.block(a.fc2_w, d * h1),
            self.block(a.fc2_b, d),
            k,
            h1,
            d,
        );
        for (x, e) in x0[..k * d].iter_mut().zip(self.block(a.emb, k * d)) {
            *x += e;
        }
        // x1 = LN1(x0 + MHA(x0))
        let (o, attn) = self.attention(&x0, masks.map(|m| m.attn.as_slice()));
        let mut att = linear(&o, self.block(a.wo, d * d), self.block(a.bo, d), k, d, d);
        apply_mask(&mut att, masks.map(|m| m.attn_out.as_slice()));
        let y1: Vec<f32> = x0.iter().zip(&att).map(|(x, y)| x + y).collect();
        let (x1, n1) = layer_norm(&y1, self.block(a.n1_g, d), self.block(a.n1_b, d), k, d);
        // x2 = LN2(x1 + FF(x1))
        let hf_pre = linear(&x1, self.block(a.w1, f * d), self.block(a.b1, f), k, d, f);
        let mut hf = hf_pre.clone();
        relu_rows(&mut hf, &hf_pre, k * f);
        apply_mask(&mut hf, masks.map(|m| m.ff_hidden.as_slice()));
        let mut z = linear(&hf, self.block(a.w2, d * f), self.block(a.b2, d), k, f, d);
        apply_mask(&mut z, masks.map(|m| m.ff_out.as_slice()));
        let y2: Vec<f32> = x1.iter().zip(&z).map(|(x, y)| x + y).collect();
        let (x2, n2) = layer_norm(&y2, self.block(a.n2_g, d), self.block(a.n2_b, d), k, d);
        Tape {
            pre1,
            h1: h1v,
            x0,
            attn,
            o,
            n1,
            x1,
            hf_pre,
            hf,
            n2,
            x2,
        }
    }

    /// The pooled output of the value rows and of the tangent rows:
    /// `mean_k(x2) · out_w`.
    #[inline(always)]
    fn outputs(&self, x2: &[f32]) -> (f32, Option<f32>) {
        let (k, d) = (self.k, self.dims.d);
        let out_w = self.block(self.at.out_w, d);
        let pool =
            |rows: &[f32]| rows.chunks_exact(d).map(|r| dot(r, out_w)).sum::<f32>() / k as f32;
        let value = pool(&x2[..k * d]);
        let tangent = (x2.len() > k * d).then(|| pool(&x2[k * d..]));
        (value, tangent)
    }

    /// `nn.MultiheadAttention(d, 8)` self-attention on value (and tangent)
    /// rows, before the output projection: returns the merged heads.
    #[inline(always)]
    fn attention(&self, x: &[f32], mask: Option<&[f32]>) -> (Vec<f32>, AttnSaved) {
        let (k, d, a) = (self.k, self.dims.d, self.at);
        let tangent = x.len() > k * d;
        let dh = d / HEADS;
        let scale = 1.0 / (dh as f32).sqrt();
        let q = linear(x, self.block(a.wq, d * d), self.block(a.bq, d), k, d, d);
        let kk = linear(x, self.block(a.wk, d * d), self.block(a.bk, d), k, d, d);
        let v = linear(x, self.block(a.wv, d * d), self.block(a.bv, d), k, d, d);
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
    fn attention_back(
        &self,
        go: &[f32],
        x: &[f32],
        s: &AttnSaved,
        mask: Option<&[f32]>,
        grads: Option<&mut [f32]>,
    ) -> Vec<f32> {
        let (k, d, a) = (self.k, self.dims.d, self.at);
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
        let mut back = |g: &[f32], w: usize, b: usize| {
            let parts = grads.as_deref_mut().map(|gr| split_wb(gr, w, b, d * d, d));
            linear_back(g, x, self.block(w, d * d), parts, k, d, d)
        };
        let mut gx = back(&gq, a.wq, a.bq);
        for (g, w, b) in [(&gk, a.wk, a.bk), (&gv, a.wv, a.bv)] {
            for (x, y) in gx.iter_mut().zip(back(g, w, b)) {
                *x += y;
            }
        }
        gx
    }

    /// The reverse pass from seeds `gv` (on the value) and `gt` (on the
    /// tangent): `∂/∂l`, `∂/∂c` (empty without a direction) and, given a
    /// zeroed `grad`, `∂/∂φ` summed into it in the reference layout.
    #[inline(always)]
    fn backward_from(
        &self,
        inp: &Inputs,
        t: &Tape,
        seeds: (f32, f32),
        grad: Option<&mut [f32]>,
    ) -> (Vec<f32>, Vec<f32>) {
        let Dims { h1, d, f, .. } = self.dims;
        let (k, a) = (self.k, self.at);
        let tangent = inp.direction.is_some();
        let rows = if tangent { 2 * k } else { k };
        let masks = inp.masks;
        let mut gp = grad;
        // Splits the parameter gradient into a weight block and its bias.
        macro_rules! wb {
            ($w:expr, $b:expr, $wn:expr, $bn:expr) => {
                gp.as_deref_mut().map(|g| split_wb(g, $w, $b, $wn, $bn))
            };
        }
        // Output: f = mean_k(x2) · out_w on value and tangent rows.
        let out_w = self.block(a.out_w, d);
        let mut gx2 = vec![0.0; rows * d];
        for r in 0..rows {
            let seed = if r < k { seeds.0 } else { seeds.1 } / k as f32;
            axpy(&mut gx2[r * d..(r + 1) * d], seed, out_w);
        }
        if let Some(g) = gp.as_deref_mut() {
            let gw = &mut g[a.out_w..a.out_w + d];
            for r in 0..rows {
                let seed = if r < k { seeds.0 } else { seeds.1 } / k as f32;
                axpy(gw, seed, &t.x2[r * d..(r + 1) * d]);
            }
        }
        // x2 = LN2(x1 + z)
        let gy2 = layer_norm_back(
            &gx2,
            &t.n2,
            self.block(a.n2_g, d),
            wb!(a.n2_g, a.n2_b, d, d),
            k,
            d,
        );
        let mut gz = gy2.clone();
        apply_mask(&mut gz, masks.map(|m| m.ff_out.as_slice()));
        let mut ghf = linear_back(
            &gz,
            &t.hf,
            self.block(a.w2, d * f),
            wb!(a.w2, a.b2, d * f, d),
            k,
            f,
            d,
        );
        apply_mask(&mut ghf, masks.map(|m| m.ff_hidden.as_slice()));
        relu_back(&mut ghf, &t.hf_pre, k * f);
        let gx1_ff = linear_back(
            &ghf,
            &t.x1,
            self.block(a.w1, f * d),
            wb!(a.w1, a.b1, f * d, f),
            k,
            d,
            f,
        );
        let gx1: Vec<f32> = gy2.iter().zip(&gx1_ff).map(|(x, y)| x + y).collect();
        // x1 = LN1(x0 + MHA(x0))
        let gy1 = layer_norm_back(
            &gx1,
            &t.n1,
            self.block(a.n1_g, d),
            wb!(a.n1_g, a.n1_b, d, d),
            k,
            d,
        );
        let mut ga = gy1.clone();
        apply_mask(&mut ga, masks.map(|m| m.attn_out.as_slice()));
        let go = linear_back(
            &ga,
            &t.o,
            self.block(a.wo, d * d),
            wb!(a.wo, a.bo, d * d, d),
            k,
            d,
            d,
        );
        let gx0_att = self.attention_back(
            &go,
            &t.x0,
            &t.attn,
            masks.map(|m| m.attn.as_slice()),
            gp.as_deref_mut(),
        );
        let gx0: Vec<f32> = gy1.iter().zip(&gx0_att).map(|(x, y)| x + y).collect();
        // Scale embedding and task embedding.
        if let Some(g) = gp.as_deref_mut() {
            for (ge, gx) in g[a.emb..a.emb + k * d].iter_mut().zip(&gx0[..k * d]) {
                *ge += gx;
            }
        }
        let mut gh1 = linear_back(
            &gx0,
            &t.h1,
            self.block(a.fc2_w, d * h1),
            wb!(a.fc2_w, a.fc2_b, d * h1, d),
            k,
            h1,
            d,
        );
        relu_back(&mut gh1, &t.pre1, k * h1);
        let fc1_w = self.block(a.fc1_w, h1);
        let d_losses: Vec<f32> = (0..k)
            .map(|r| dot(&gh1[r * h1..(r + 1) * h1], fc1_w))
            .collect();
        let d_direction: Vec<f32> = match tangent {
            true => (0..k)
                .map(|r| dot(&gh1[(k + r) * h1..(k + r + 1) * h1], fc1_w))
                .collect(),
            false => Vec::new(),
        };
        if let Some(g) = gp.as_deref_mut() {
            for r in 0..k {
                let row = &gh1[r * h1..(r + 1) * h1];
                axpy(&mut g[a.fc1_w..a.fc1_w + h1], inp.losses[r], row);
                for (b, x) in g[a.fc1_b..a.fc1_b + h1].iter_mut().zip(row) {
                    *b += x;
                }
                if let Some(c) = inp.direction {
                    axpy(
                        &mut g[a.fc1_w..a.fc1_w + h1],
                        c[r],
                        &gh1[(k + r) * h1..(k + r + 1) * h1],
                    );
                }
            }
        }
        (d_losses, d_direction)
    }

    /// The head's value for losses `l`.
    pub fn value(&self, losses: &[f32], dropout: Option<(f32, u64)>) -> f32 {
        let masks = dropout.map(|(p, s)| sample_masks(self.k, self.dims.d, self.dims.f, p, s));
        let inp = Inputs {
            losses,
            direction: None,
            masks: masks.as_ref(),
        };
        let t = self.forward(&inp);
        self.outputs(&t.x2).0
    }

    /// Backward through the value (no direction) or through the tangent
    /// `D_l f(l)[c]` (with direction `c`), as [`super::network::Head::backward`].
    pub fn backward(
        &self,
        losses: &[f32],
        direction: Option<&[f32]>,
        dropout: Option<(f32, u64)>,
        with_params: bool,
    ) -> HeadGrads {
        let masks = dropout.map(|(p, s)| sample_masks(self.k, self.dims.d, self.dims.f, p, s));
        let inp = Inputs {
            losses,
            direction,
            masks: masks.as_ref(),
        };
        let t = self.forward(&inp);
        let (value, tangent) = self.outputs(&t.x2);
        let (output, seeds) = match tangent {
            Some(tv) => (tv, (0.0, 1.0)),
            None => (value, (1.0, 0.0)),
        };
        if !with_params {
            let (d_losses, d_direction) = self.backward_from(&inp, &t, seeds, None);
            return HeadGrads {
                output,
                d_losses,
                d_direction,
                d_params: None,
            };
        }
        let mut grad = self.grad.0.lock().unwrap_or_else(|e| e.into_inner());
        grad.clear();
        grad.resize(self.at.len, 0.0);
        let (d_losses, d_direction) = self.backward_from(&inp, &t, seeds, Some(&mut grad));
        HeadGrads {
            output,
            d_losses,
            d_direction,
            d_params: Some(ParamVec::from_slice(self.flat.tensor().device(), &grad)),
        }
    }
}

/// ReLU on every row, the tangent rows (`value_len..`) masked by the value
/// rows' sign.
#[inline(always)]
fn relu_rows(x: &mut [f32], pre: &[f32], value_len: usize) {
    for block in x.chunks_mut(value_len) {
        for (x, p) in block.iter_mut().zip(&pre[..value_len]) {
            if *p <= 0.0 {
                *x = 0.0;
            }
        }
    }
}

/// Reverse of [`relu_rows`].
#[inline(always)]
fn relu_back(g: &mut [f32], pre: &[f32], value_len: usize) {
    relu_rows(g, pre, value_len)
}

/// The weight block at `w` (`wn` values) and the bias block at `b` (`bn`
/// values) of a flat gradient, as two disjoint mutable slices.
fn split_wb(g: &mut [f32], w: usize, b: usize, wn: usize, bn: usize) -> (&mut [f32], &mut [f32]) {
    if w < b {
        let (lo, hi) = g.split_at_mut(b);
        (&mut lo[w..w + wn], &mut hi[..bn])
    } else {
        let (lo, hi) = g.split_at_mut(w);
        (&mut hi[..wn], &mut lo[b..b + bn])
    }
}

#[cfg(test)]
mod tests {
    use super::super::init::init_weights;
    use super::super::network::GraphHead;
    use super::*;
    use crate::tensor::device;

    fn close(what: &str, a: &[f32], b: &[f32], tol: f32) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        let scale = b.iter().fold(1.0f32, |m, x| m.max(x.abs()));
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * scale,
                "{what}[{i}]: host {x} vs graph {y} (scale {scale})"
            );
        }
    }

    /// The hand-written head agrees with the dfdx graph (itself checked
    /// against JAX in tests/head_reference.rs) on every output, for every
    /// preset, with and without a direction, with and without dropout.
    #[test]
    fn the_host_head_matches_the_dfdx_graph() {
        for (preset, k) in [
            (Preset::Allinone, 1),
            (Preset::Allinone, 2),
            (Preset::Univl, 5),
            (Preset::Violet, 3),
            (Preset::Paper, 16),
        ] {
            let w = init_weights(preset.dims(), k, 7).unwrap();
            let flat = ParamVec::from_vec(&device(), w.flat());
            let host = HostHead::new(preset, k, flat.clone());
            let graph = GraphHead::new(preset, k, flat);
            let l: Vec<f32> = (0..k).map(|i| 0.2 + 0.9 * i as f32).collect();
            let c: Vec<f32> = (0..k).map(|i| 1.0 - 0.37 * i as f32).collect();
            for dropout in [None, Some((0.3, 11))] {
                let name = format!("{}-k{k} dropout {dropout:?}", preset.name());
                let (vh, vg) = (host.value(&l, dropout), graph.value(&l, dropout));
                close(&format!("{name} value"), &[vh], &[vg], 1e-5);
                for dir in [None, Some(c.as_slice())] {
                    let h = host.backward(&l, dir, dropout, true);
                    let g = graph.backward(&l, dir, dropout, true);
                    let name = format!("{name} direction {}", dir.is_some());
                    close(&format!("{name} output"), &[h.output], &[g.output], 1e-4);
                    close(&format!("{name} d_losses"), &h.d_losses, &g.d_losses, 1e-4);
                    close(
                        &format!("{name} d_direction"),
                        &h.d_direction,
                        &g.d_direction,
                        1e-4,
                    );
                    let (hp, gp) = (h.d_params.unwrap().to_vec(), g.d_params.unwrap().to_vec());
                    close(&format!("{name} d_params"), &hp, &gp, 1e-4);
                    let without = host.backward(&l, dir, dropout, false);
                    assert!(without.d_params.is_none());
                    assert_eq!(
                        without.d_losses, h.d_losses,
                        "{name}: with_params changes ∂/∂l"
                    );
                }
            }
        }
    }
}
