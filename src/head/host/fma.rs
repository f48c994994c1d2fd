//! The linear layers' kernels with AVX2 and FMA: four rows of `x` per pass
//! over a weight row, so that each weight vector is loaded once for four
//! fused multiply-adds.

use std::arch::x86_64::*;

/// The sum of the eight lanes.
#[inline(always)]
unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_hadd_ps(s, s);
    _mm_cvtss_f32(_mm_hadd_ps(s, s))
}

/// [`super::linear::matmul_rows`], two weight rows by four rows of `x` at a time:
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
        let wp: [*const f32; 2] = std::array::from_fn(|u| w.as_ptr().add((j + u.min(nj - 1)) * i));
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

/// [`super::linear::matmul_rows_back`], four weight rows by four rows of `x` at
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
        let wp: [*const f32; 4] = std::array::from_fn(|u| w.as_ptr().add((j + u.min(nj - 1)) * i));
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
