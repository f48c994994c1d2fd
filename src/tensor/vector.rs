//! The vector primitives the host kernels (the head's, the fused
//! backbone kernels) are built from. Reductions keep 32 partial sums (four
//! 8-lane registers), so that the compiler vectorises them and the
//! additions do not wait on each other.

/// `Σ a_i b_i`.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
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
    fold(s, &acc)
}

/// `Σ a_i`.
#[inline(always)]
pub fn sum(a: &[f32]) -> f32 {
    let mut acc = [0.0f32; 32];
    let ac = a.chunks_exact(32);
    let mut s: f32 = ac.remainder().iter().sum();
    for x in ac {
        for i in 0..32 {
            acc[i] += x[i];
        }
    }
    s = fold(s, &acc);
    s
}

/// `Σ (a_i − c)²`.
#[inline(always)]
pub fn sum_sq_dev(a: &[f32], c: f32) -> f32 {
    let mut acc = [0.0f32; 32];
    let ac = a.chunks_exact(32);
    let mut s: f32 = ac.remainder().iter().map(|x| (x - c) * (x - c)).sum();
    for x in ac {
        for i in 0..32 {
            acc[i] += (x[i] - c) * (x[i] - c);
        }
    }
    s = fold(s, &acc);
    s
}

/// `y += a x`.
#[inline(always)]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (y, x) in y.iter_mut().zip(x) {
        *y += a * x;
    }
}

#[inline(always)]
fn fold(mut s: f32, acc: &[f32; 32]) -> f32 {
    for lane in 0..8 {
        s += (acc[lane] + acc[lane + 8]) + (acc[lane + 16] + acc[lane + 24]);
    }
    s
}
