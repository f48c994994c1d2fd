//! The glue between host kernels and dfdx's CPU tensors and tape.
//!
//! dfdx 0.13 keeps a tensor's storage private: values cross with
//! `copy_into` / `copy_from` (one `memcpy` each), and the only raw storage
//! handed out is a gradient buffer (`Gradients::get_or_alloc_mut`), which a
//! kernel's backward reads and adds into in place. A backward op borrows
//! one gradient at a time, so the output's gradient is moved out of the
//! map while the inputs' are written ([`with_output_grad`]).

use super::Scratch;
use dfdx::prelude::*;
use dfdx::tensor::Cpu;

/// dfdx's CPU gradient storage (a `Vec<f32>` behind `Deref`).
pub(super) type Buf = <Cpu as dfdx::tensor::Storage<f32>>::Vec;

/// The values of `x`, copied into a pooled host buffer. Its storage is
/// read in memory order, so `x` must be contiguous: the kernels take
/// `x.contiguous()` first (free for an op's output, a copy for a permuted
/// or broadcast view).
pub fn host_copy<S: Shape, T>(x: &Tensor<S, f32, Cpu, T>) -> Scratch {
    let mut s = Scratch::take(x.shape().num_elements());
    x.copy_into(&mut s);
    s
}

/// A tensor of shape `shape` holding `values`, in a buffer from dfdx's
/// allocator (and its cache, when on).
pub(super) fn device_tensor<S: Shape>(dev: &Cpu, values: &[f32], shape: S) -> Tensor<S, f32, Cpu> {
    let mut t = dev.zeros_like(&shape);
    t.copy_from(values);
    t
}

/// dfdx's CPU error.
type CpuErr = <Cpu as HasErr>::Err;

/// Runs `f` on the gradient map and the output's gradient `dy`, moved out
/// of the map (found by `output`) so that `f` can borrow the inputs'
/// gradients from it, and puts `dy` back whatever `f` returns.
pub(super) fn with_output_grad<G, F>(
    grads: &mut Gradients<f32, Cpu>,
    output: G,
    f: F,
) -> Result<(), CpuErr>
where
    G: for<'g> Fn(&'g mut Gradients<f32, Cpu>) -> Result<&'g mut Buf, CpuErr>,
    F: FnOnce(&mut Gradients<f32, Cpu>, &[f32]) -> Result<(), CpuErr>,
{
    let dy = std::mem::take(&mut **output(grads)?);
    let done = f(grads, &dy);
    **output(grads)? = dy;
    done
}

/// `dst += src`, element by element.
pub(super) fn add_into(dst: &mut [f32], src: &[f32]) {
    assert_eq!(dst.len(), src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}
