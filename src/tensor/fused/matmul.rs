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

// A linear layer's two products (the fused linear layer's, and the fused
// convolution's over its columns), as dfdx's for `x.matmul(w.permute())`
// and its backward
// (`dfdx-0.13.0/src/tensor_ops/matmul/cpu_kernel.rs`), argument for
// argument: `x` is `(n, i)` with strides `[i, 1]`, `wᵀ` is `(i, o)` with
// strides `[1, i]`, `y` and `dy` are `(n, o)` with strides `[o, 1]`.

/// `y = x Wᵀ` for `x` (`n × i`) and `w` (`o × i`), into `y` (`n × o`).
pub(super) fn linear_forward(
    x: &[f32],
    w: &[f32],
    (n, i, o): (usize, usize, usize),
    y: &mut [f32],
) {
    assert!(x.len() == n * i && w.len() == o * i && y.len() == n * o);
    // SAFETY: dense views of slices whose lengths are checked above.
    unsafe {
        matmul(
            (n, i, o),
            false,
            x.as_ptr(),
            [i, 1],
            w.as_ptr(),
            [1, i],
            y.as_mut_ptr(),
            [o, 1],
        )
    }
}

/// `dw += dyᵀ x` (`o × i`) for `dy` (`n × o`) and `x` (`n × i`).
pub(super) fn linear_weight_grad(
    dy: &[f32],
    x: &[f32],
    (n, i, o): (usize, usize, usize),
    dw: &mut [f32],
) {
    assert!(dy.len() == n * o && x.len() == n * i && dw.len() == o * i);
    // SAFETY: `xᵀ` and `dwᵀ` are transposed views of dense slices, `dy`
    // a dense one; lengths checked above.
    unsafe {
        matmul(
            (i, n, o),
            true,
            x.as_ptr(),
            [1, i],
            dy.as_ptr(),
            [o, 1],
            dw.as_mut_ptr(),
            [1, i],
        )
    }
}
