//! Element-wise steps on value (and tangent) rows: dropout masks and ReLU.

/// `x ⊙ m` row-wise for every `m.len()`-sized block of `x` (a dropout mask
/// shared by the value and the tangent rows).
#[inline(always)]
pub(super) fn apply_mask(x: &mut [f32], m: Option<&[f32]>) {
    if let Some(m) = m {
        for block in x.chunks_exact_mut(m.len()) {
            for (x, m) in block.iter_mut().zip(m) {
                *x *= m;
            }
        }
    }
}

/// ReLU on every row, the tangent rows (`value_len..`) masked by the value
/// rows' sign.
#[inline(always)]
pub(super) fn relu_rows(x: &mut [f32], pre: &[f32], value_len: usize) {
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
pub(super) fn relu_back(g: &mut [f32], pre: &[f32], value_len: usize) {
    relu_rows(g, pre, value_len)
}
