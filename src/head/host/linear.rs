//! Linear layers on value (and tangent) rows: `y = x Wᵀ + b` and its
//! reverse, the portable kernels and the choice of the AVX2 + FMA ones.

#[cfg(target_arch = "x86_64")]
use super::fma;
use crate::tensor::vector::{axpy, dot};

/// `y[r][j] = x_r · w_j` for every row of `x` (width `i`) and every row of
/// `w` (`o` of them): the portable kernel.
#[inline(always)]
pub(super) fn matmul_rows(x: &[f32], w: &[f32], y: &mut [f32], i: usize, o: usize) {
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
pub(super) fn matmul_rows_back(
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

/// `y = x Wᵀ (+ b on the first `bias_rows` rows)` for `rows` rows of width
/// `i`; `w` is `o × i`, row-major (PyTorch's layout).
#[inline(always)]
pub(super) fn linear(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    bias_rows: usize,
    i: usize,
    o: usize,
) -> Vec<f32> {
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
pub(super) fn linear_back(
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
