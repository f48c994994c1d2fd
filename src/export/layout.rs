//! The linear-memory map of an exported head: where every weight,
//! activation and canonical-ABI return area lives.
//!
//! All addresses are fixed when the head is exported, so the generated code
//! uses constant offsets (wasm `memarg` offsets) everywhere:
//!
//! ```text
//! 0        16       ...            ...              ...          heap_base
//! | null   | static: return areas, | activations     | weights      | cabi_realloc
//! | guard  | metadata, task names  | (forward + grad)| (+ transposes)| bump heap
//! ```
//!
//! Every buffer starts on a 16-byte boundary, so `v128` loads are aligned
//! (all widths are multiples of 4 floats).

use crate::head::{Dims, HeadLayout, Param};

/// Rounds `x` up to a multiple of `a` (a power of two).
pub(crate) fn align(x: u32, a: u32) -> u32 {
    (x + a - 1) & !(a - 1)
}

/// A bump allocator over byte offsets, used to lay the memory out.
#[derive(Debug)]
pub(crate) struct Bump(pub u32);

impl Bump {
    /// Reserves `bytes` at alignment `a` and returns the start.
    pub(crate) fn take(&mut self, bytes: u32, a: u32) -> u32 {
        let start = align(self.0, a);
        self.0 = start + bytes;
        start
    }

    /// Reserves `n` f32 values, 16-byte aligned.
    pub(crate) fn floats(&mut self, n: usize) -> u32 {
        self.take(4 * n as u32, 16)
    }
}

/// Byte offsets of the transposed weights that the reverse pass multiplies
/// with (stored after the weights themselves).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Transposes {
    /// `loss_fc2.weight` transposed: `h1 x d`.
    pub fc2w: u32,
    /// `in_proj_weight` transposed: `d x 3d`.
    pub inw: u32,
    /// `out_proj.weight` transposed: `d x d`.
    pub outw: u32,
    /// `linear1.weight` transposed: `d x f`.
    pub w1: u32,
    /// `linear2.weight` transposed: `f x d`.
    pub w2: u32,
}

/// Byte offsets of the activations of the forward pass and of the gradients
/// of the reverse pass (all row-major, one row per task token).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ActOffsets {
    /// The K input losses, copied out of the argument list.
    pub loss: u32,
    /// `relu(loss_fc1(l))`, `K x h1`.
    pub hid: u32,
    /// Tokens after scale and task embedding, `K x d`.
    pub tok: u32,
    /// q | k | v per token, `K x 3d`.
    pub qkv: u32,
    /// Attention probabilities, `heads x K x K`.
    pub prob: u32,
    /// Attention output before `out_proj`, `K x d`.
    pub att: u32,
    /// `tok + out_proj(att)`, `K x d`.
    pub r1: u32,
    /// LayerNorm 1 normalised input, `K x d`, and reciprocal std, `K`.
    pub xh1: u32,
    pub rs1: u32,
    /// LayerNorm 1 output, `K x d`.
    pub x1: u32,
    /// `relu(linear1(x1))`, `K x f`.
    pub ff: u32,
    /// `x1 + linear2(ff)`, `K x d`.
    pub r2: u32,
    /// LayerNorm 2 normalised input and reciprocal std.
    pub xh2: u32,
    pub rs2: u32,
    /// LayerNorm 2 output, `K x d`.
    pub x2: u32,
    /// Gradients, same shapes as their forward counterparts.
    pub g_x2: u32,
    pub g_r2: u32,
    pub g_ff: u32,
    pub g_x1: u32,
    pub g_r1: u32,
    pub g_att: u32,
    pub g_qkv: u32,
    pub g_tok: u32,
    pub g_hid: u32,
    /// Scratch row of K floats for the attention reverse pass.
    pub g_p: u32,
    /// The result: `∂f/∂l`, K floats.
    pub g_loss: u32,
}

/// The whole memory map.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    pub dims: Dims,
    pub k: usize,
    /// Canonical-ABI return area of `eval`, `weights`, `evaluate` (16 bytes).
    pub ret: u32,
    /// Start of the static data (metadata record, task names, strings).
    pub static_start: u32,
    /// Activations and gradients.
    pub act: ActOffsets,
    /// Where each weight tensor lies in the head's flat vector, which is
    /// copied whole to `weights_start`.
    pub head: HeadLayout,
    /// The transposed weights.
    pub t: Transposes,
    /// First byte of the weights region (where the weights data segment starts).
    pub weights_start: u32,
    /// End of the weights region.
    pub weights_end: u32,
    /// Where `cabi_realloc` starts allocating; reset after every call.
    pub heap_base: u32,
    /// Initial (and maximum) memory size in 64 KiB pages.
    pub pages: u32,
}

/// Memory kept for the bump heap: the argument list of one call (K floats
/// in practice; the exported functions refuse more).
pub(crate) const HEAP_BYTES: u32 = 64 * 1024;

impl Layout {
    /// The byte address of weight tensor `p`.
    pub(crate) fn weight(&self, p: Param) -> u32 {
        self.weights_start + 4 * self.head.offset(p) as u32
    }

    /// Lays out a head with widths `dims`, `k` tasks and `static_bytes` of
    /// metadata (placed at `static_start`, right after the return area).
    pub(crate) fn new(dims: Dims, k: usize, static_bytes: u32) -> Layout {
        let Dims { h1, d, f, heads } = dims;
        let mut b = Bump(16);
        let ret = b.take(16, 16);
        let static_start = b.take(static_bytes, 16);
        let act = ActOffsets {
            loss: b.floats(k),
            hid: b.floats(k * h1),
            tok: b.floats(k * d),
            qkv: b.floats(k * 3 * d),
            prob: b.floats(heads * k * k),
            att: b.floats(k * d),
            r1: b.floats(k * d),
            xh1: b.floats(k * d),
            rs1: b.floats(k),
            x1: b.floats(k * d),
            ff: b.floats(k * f),
            r2: b.floats(k * d),
            xh2: b.floats(k * d),
            rs2: b.floats(k),
            x2: b.floats(k * d),
            g_x2: b.floats(k * d),
            g_r2: b.floats(k * d),
            g_ff: b.floats(k * f),
            g_x1: b.floats(k * d),
            g_r1: b.floats(k * d),
            g_att: b.floats(k * d),
            g_qkv: b.floats(k * 3 * d),
            g_tok: b.floats(k * d),
            g_hid: b.floats(k * h1),
            g_p: b.floats(k),
            g_loss: b.floats(k),
        };
        // The flat vector as it is: every tensor's length is a multiple of
        // four floats (the exporter checks the widths), so each starts on a
        // 16-byte boundary.
        let head = HeadLayout::new(dims, k);
        let weights_start = b.take(4 * head.num_params() as u32, 16);
        let t = Transposes {
            fc2w: b.floats(h1 * d),
            inw: b.floats(d * 3 * d),
            outw: b.floats(d * d),
            w1: b.floats(d * f),
            w2: b.floats(f * d),
        };
        let weights_end = b.0;
        let heap_base = align(weights_end, 16);
        let pages = (heap_base + HEAP_BYTES).div_ceil(65536);
        Layout {
            dims,
            k,
            ret,
            static_start,
            act,
            head,
            t,
            weights_start,
            weights_end,
            heap_base,
            pages,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Preset;

    #[test]
    fn buffers_are_aligned_disjoint_and_fit_the_pages() {
        for p in Preset::ALL {
            let l = Layout::new(p.dims(), 16, 333);
            assert_eq!(l.static_start % 16, 0);
            assert!(l.static_start >= l.ret + 16);
            assert!(l.act.loss >= l.static_start + 333);
            let Dims { d, f, .. } = p.dims();
            for w in Param::ALL {
                assert_eq!(l.weight(w) % 16, 0, "{w:?}");
            }
            assert_eq!(l.weight(Param::TaskEmbedding), l.weights_start);
            assert_eq!(l.t.fc2w, l.weights_start + 4 * l.head.num_params() as u32);
            assert_eq!(l.t.w2 % 16, 0);
            assert_eq!(l.weights_end, l.t.w2 + (4 * f * d) as u32);
            assert!(l.pages as u64 * 65536 >= (l.heap_base + HEAP_BYTES) as u64);
        }
    }
}
