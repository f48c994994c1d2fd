//! The two vector primitives every host kernel is built from.

/// `Σ a_i b_i` with 32 partial sums (four 8-lane registers), so that the
/// compiler vectorises it and the additions do not wait on each other.
#[inline(always)]
pub(super) fn dot(a: &[f32], b: &[f32]) -> f32 {
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
pub(super) fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}
