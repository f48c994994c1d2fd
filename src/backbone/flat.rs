//! [`FlatParams`]: named parameter blocks cut out of one flat vector on a
//! tape — how the built-in backbones keep `w` a single [`ParamVec`] and
//! still read typed tensors.
//!
//! A taped `FlatParams` traces the flat vector once; every block read from
//! it is an op on that tape (a fused copy of the block in the CPU build,
//! [`crate::tensor::fused::flat_block`]; a `gather` under `cuda`), so one
//! backward pass leaves `∇_w` in the flat vector's gradient, with no
//! concatenation.

use super::{Layout, Loss, Taped};
use crate::tensor::Dev;
use crate::tensor::ParamVec;
use dfdx::prelude::*;

/// Per block of a layout, the flat-vector indices of its scalars, for
/// dfdx's `gather` under `cuda` (built once per model, on its device). The
/// CPU build reads blocks with a fused copy and keeps none.
#[derive(Debug, Clone)]
pub struct BlockIndices {
    #[cfg(feature = "cuda")]
    per_block: Vec<Tensor<(usize,), usize, Dev>>,
}

impl BlockIndices {
    /// The indices of every block of `layout`, on `dev`.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    pub fn new(dev: &Dev, layout: &Layout) -> BlockIndices {
        BlockIndices {
            #[cfg(feature = "cuda")]
            per_block: layout
                .blocks()
                .iter()
                .map(|p| {
                    let n = p.block.len();
                    dev.tensor_from_vec((p.offset..p.offset + n).collect(), (n,))
                })
                .collect(),
        }
    }
}

/// The parameters of one forward pass; see the module docs.
pub struct FlatParams<'m, T> {
    layout: &'m Layout,
    // The CPU build reads blocks with a fused copy from `host` instead.
    #[cfg_attr(not(feature = "cuda"), allow(dead_code))]
    indices: &'m BlockIndices,
    w: Tensor<(usize,), f32, Dev, T>,
    /// `w` on the host, copied once per pass, for the fused block reads.
    #[cfg(not(feature = "cuda"))]
    host: std::sync::Arc<crate::tensor::fused::Scratch>,
}

#[cfg(not(feature = "cuda"))]
fn host_of(w: &ParamVec) -> std::sync::Arc<crate::tensor::fused::Scratch> {
    std::sync::Arc::new(crate::tensor::fused::host_copy(&w.0))
}

impl<'m> FlatParams<'m, Taped> {
    /// Parameters `w` on a fresh tape.
    pub fn taped(layout: &'m Layout, indices: &'m BlockIndices, w: &ParamVec) -> Self {
        FlatParams {
            layout,
            indices,
            w: w.0.leaky_trace(),
            #[cfg(not(feature = "cuda"))]
            host: host_of(w),
        }
    }

    /// `∇_w loss`, consuming the loss's tape.
    pub fn gradient(&self, loss: Loss<Taped>) -> ParamVec {
        // Touch every parameter with weight 0 so the gradient always exists,
        // even for a loss that reads none of them.
        let anchor = self.w.retaped::<Taped>().sum::<Rank0, _>() * 0.0;
        let grads = (loss + anchor).backward();
        ParamVec(grads.get(&self.w))
    }
}

impl<'m> FlatParams<'m, NoneTape> {
    /// Parameters `w`, recording nothing.
    pub fn free(layout: &'m Layout, indices: &'m BlockIndices, w: &ParamVec) -> Self {
        FlatParams {
            layout,
            indices,
            w: w.0.clone(),
            #[cfg(not(feature = "cuda"))]
            host: host_of(w),
        }
    }
}

impl<'m, T: Tape<f32, Dev>> FlatParams<'m, T> {
    /// The device.
    pub fn dev(&self) -> &Dev {
        self.w.device()
    }

    /// The same parameters with no tape: outputs computed from them are
    /// constants (e.g. regression or contrastive targets).
    pub fn detached(&self) -> FlatParams<'m, NoneTape> {
        FlatParams {
            layout: self.layout,
            indices: self.indices,
            w: self.w.retaped::<NoneTape>(),
            #[cfg(not(feature = "cuda"))]
            host: self.host.clone(),
        }
    }

    /// The block `name` as a tensor of shape `S` on this tape.
    ///
    /// Panics if the layout has no such block or its size differs from `S`:
    /// a programming error of the backbone, not of its user.
    pub fn param<S: ConstShape>(&self, name: &str) -> Tensor<S, f32, Dev, T> {
        self.param_shaped(name, S::default())
    }

    /// The block `name` as a tensor of a shape known at run time (e.g. a
    /// width chosen by the backbone's settings). Panics like [`FlatParams::param`].
    pub fn param_shaped<S: Shape>(&self, name: &str, shape: S) -> Tensor<S, f32, Dev, T> {
        let i = self
            .layout
            .position(name)
            .unwrap_or_else(|| panic!("backbone has no parameter `{name}`"));
        let placed = &self.layout.blocks()[i];
        let n = placed.block.len();
        assert_eq!(n, shape.num_elements(), "parameter `{name}` has {n} values");
        #[cfg(not(feature = "cuda"))]
        {
            crate::tensor::fused::flat_block(&self.w, &self.host, placed.offset, shape)
        }
        // `gather`, not `slice`: dfdx 0.13's slice backward *assigns* its
        // gradient instead of adding it, so a block read twice on one tape
        // (two tasks, or one task twice) would keep only one gradient.
        #[cfg(feature = "cuda")]
        {
            let flat: Tensor<(usize,), f32, Dev, T> = self
                .w
                .retaped::<T>()
                .gather(self.indices.per_block[i].clone());
            flat.reshape_like(&shape)
        }
    }
}

/// dfdx's buffer cache, emptied every [`BufferCache::RELEASE_EVERY`] steps
/// and when the model holding it is dropped.
///
/// Within a step, the backward pass reuses the forward pass's freed buffers
/// instead of faulting in fresh pages (on a 2-core CPU, page faults were a
/// quarter of a step's time without it). The cache keeps a buffer of every
/// size it has seen, and sizes vary from step to step (masked rows), so it
/// is emptied now and then: never emptied, it grew to 7 GB in a quick
/// pretraining; emptied every step, a step was ~1.7x slower. Emptying it on
/// drop keeps a process that builds many models and takes no steps (the
/// backbone-file fuzz target held 335 MB after 10^6 files) from growing.
#[derive(Debug, Clone)]
pub struct BufferCache(std::sync::Arc<CacheOwner>);

#[derive(Debug)]
struct CacheOwner {
    dev: Dev,
    calls: std::sync::atomic::AtomicU64,
}

impl Drop for CacheOwner {
    fn drop(&mut self) {
        use dfdx::tensor::Cache;
        self.dev.empty_cache();
    }
}

impl BufferCache {
    /// How many steps the cache may grow before it is emptied.
    pub const RELEASE_EVERY: u64 = 16;

    /// Turns the cache on for `dev`.
    pub fn enable(dev: &Dev) -> BufferCache {
        use dfdx::tensor::Cache;
        dev.enable_cache();
        BufferCache(std::sync::Arc::new(CacheOwner {
            dev: dev.clone(),
            calls: Default::default(),
        }))
    }

    /// Empties the device's cache now (and, in the CPU build, this
    /// thread's pool of the fused kernels' host buffers).
    pub fn empty(&self) {
        use dfdx::tensor::Cache;
        self.0.dev.empty_cache();
        #[cfg(not(feature = "cuda"))]
        crate::tensor::fused::Scratch::release_all();
    }

    /// Counts a step; empties the device's cache every
    /// [`BufferCache::RELEASE_EVERY`] calls.
    pub fn step(&self) {
        let n = self
            .0
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n % Self::RELEASE_EVERY == Self::RELEASE_EVERY - 1 {
            self.empty();
        }
    }
}
