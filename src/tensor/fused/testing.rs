//! Test helpers for the kernels: random inputs, a tolerance check, and
//! central differences.

use rand::{Rng, SeedableRng};

/// `n` values uniform in `[-scale, scale]`, from `seed`.
pub fn random(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
}

/// Asserts `|a_i − b_i| ≤ rel · max_j |b_j|` for every `i` (relative to the
/// vector's scale: a value near zero by cancellation carries the rounding
/// of the terms that cancelled).
pub fn assert_close(a: &[f32], b: &[f32], rel: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let scale = b
        .iter()
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= rel * scale,
            "{what}: [{i}] {x} vs {y} (scale {scale}, rel {})",
            (x - y).abs() / scale
        );
    }
}

/// `∂f/∂p_i` at `at` by central differences of step `h`.
pub fn central_difference(f: impl Fn(&[f64]) -> f64, at: &[f64], h: f64) -> Vec<f64> {
    let mut p = at.to_vec();
    (0..at.len())
        .map(|i| {
            p[i] = at[i] + h;
            let up = f(&p);
            p[i] = at[i] - h;
            let down = f(&p);
            p[i] = at[i];
            (up - down) / (2.0 * h)
        })
        .collect()
}
