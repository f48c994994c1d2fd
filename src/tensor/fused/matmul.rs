//! The matrix product the fused kernels run on host buffers: dfdx 0.13's
//! own CPU kernel (`gemm`, on rayon's pool as `tensor::threads` sizes it),
//! called with the arguments dfdx passes, so that a fused op's products are
//! dfdx's to the bit.

/// `c (m × n) = a (m × k) · b (k × n)`, or `c += …` with `accum`, on
/// row/column strides `[row, col]` of each: dfdx 0.13's `MatMulImpl<f32>`
/// for `Cpu`.
///
/// # Safety
/// Each pointer must address every element its strides reach for these
/// sizes; `c` must not overlap `a` or `b`.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(
    (m, k, n): (usize, usize, usize),
    accum: bool,
    a: *const f32,
    a_strides: [usize; 2],
    b: *const f32,
    b_strides: [usize; 2],
    c: *mut f32,
    c_strides: [usize; 2],
) {
    gemm::gemm(
        m,
        n,
        k,
        c,
        c_strides[1] as isize,
        c_strides[0] as isize,
        accum,
        a,
        a_strides[1] as isize,
        a_strides[0] as isize,
        b,
        b_strides[1] as isize,
        b_strides[0] as isize,
        if accum { 1.0 } else { 0.0 },
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::Rayon(rayon::current_num_threads()),
    )
}
