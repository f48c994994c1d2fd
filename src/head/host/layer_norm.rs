//! LayerNorm on value rows and their tangent rows, and its reverse.

use crate::tensor::vector::dot;

const LN_EPS: f32 = 1e-5;

/// What a LayerNorm keeps for its reverse pass.
pub(super) struct NormSaved {
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
pub(super) fn layer_norm(
    y: &[f32],
    g: &[f32],
    b: &[f32],
    k: usize,
    m: usize,
) -> (Vec<f32>, NormSaved) {
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
pub(super) fn layer_norm_back(
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
