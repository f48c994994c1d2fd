//! Export a MELTR head to a self-contained WebAssembly component
//! (docs/design.md §4, the world `meltr:head/head` in `wit/head.wit`).
//!
//! The exporter *generates* the code: a core module whose text is written
//! here (every width and address a constant), assembled with the `wat`
//! crate, given the weights as data segments, and wrapped into a component
//! with `wit-component`. No wasm32 toolchain is involved and the result
//! imports nothing.
//!
//! * value: the forward pass of the PyTorch reference in eval mode;
//! * per-task weights `∂f/∂l`: the reverse pass through that forward, also
//!   generated (`program.rs`);
//! * `exp` is computed in-module (f64, `kernels.rs`); `sqrt` is the wasm
//!   instruction; the matrix products use 128-bit SIMD ([`Simd`]).
//!
//! ```
//! # #[cfg(feature = "viewer")] {
//! use meltr::export::{export_component, ExportOptions};
//! use meltr::head::{init_weights, Preset};
//! let w = init_weights(Preset::Allinone.dims(), 2, 1).unwrap();
//! let bytes = export_component(&w, &ExportOptions::default()).unwrap();
//! assert!(wasmparser::Parser::is_component(&bytes));
//! # }
//! ```

mod abi;
mod kernels;
mod layout;
mod program;

pub use kernels::Simd;

use crate::atomic::write_atomic;
use crate::error::{Error, Result};
use crate::head::{HeadWeights, Param};
use layout::Layout;
use std::path::Path;

/// The WIT world every exported head implements (`wit/head.wit`).
pub const WIT: &str = include_str!("../../wit/head.wit");

/// The world's name inside [`WIT`].
pub const WORLD: &str = "head";

/// The artifact format written into the metadata.
pub const FORMAT: &str = "meltr-head/1";

/// How to generate the code.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Vectorisation of the matrix products.
    pub simd: Simd,
}

/// What [`export_file`] wrote.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// Size of the component in bytes.
    pub bytes: usize,
    /// Linear memory the artifact starts with, in bytes.
    pub memory_bytes: usize,
    /// Number of tasks K.
    pub num_tasks: usize,
    /// Number of head parameters.
    pub num_params: usize,
}

/// The text of the core module's code (no data segments), for reading.
pub fn core_module_text(w: &HeadWeights, opts: &ExportOptions) -> Result<String> {
    Ok(build(w, opts)?.0)
}

/// Generates the component for `w`.
pub fn export_component(w: &HeadWeights, opts: &ExportOptions) -> Result<Vec<u8>> {
    let (text, layout, statics) = build(w, opts)?;
    let mut module = wat::parse_str(&text).map_err(|e| Error::Export {
        reason: format!("generated code does not assemble (a bug): {e}"),
    })?;
    append_data(&mut module, &layout, w, &statics);
    wrap_component(module)
}

/// Reads a head from `weights`, exports it and writes the component to `out`
/// atomically.
pub fn export_file(weights: &Path, out: &Path, opts: &ExportOptions) -> Result<ExportSummary> {
    let w = HeadWeights::load(weights)?;
    let bytes = export_component(&w, opts)?;
    write_atomic(out, &bytes)?;
    Ok(ExportSummary {
        bytes: bytes.len(),
        memory_bytes: Layout::new(w.dims, w.num_tasks, 0).pages as usize * 65536,
        num_tasks: w.num_tasks,
        num_params: w.num_params(),
    })
}

/// Wraps a core module that follows the canonical ABI of [`WIT`] into a
/// component (validating it). Public so that tests can build artifacts
/// that break the contract on purpose.
pub fn wrap_component(mut module: Vec<u8>) -> Result<Vec<u8>> {
    fn err(what: &str, e: impl std::fmt::Display) -> Error {
        Error::Export {
            reason: format!("{what}: {}", one_line(&format!("{e:#}"))),
        }
    }
    let mut resolve = wit_parser::Resolve::default();
    let pkg = resolve
        .push_str("wit/head.wit", WIT)
        .map_err(|e| err("wit", e))?;
    let world = resolve
        .select_world(&[pkg], Some(WORLD))
        .map_err(|e| err("wit", e))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
    )
    .map_err(|e| err("component metadata", e))?;
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .and_then(|mut enc| enc.encode())
        .map_err(|e| err("component encoding", e))
}

/// Joins a multi-line message into one line.
pub(crate) fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Lays the memory out and writes the module text.
fn build(w: &HeadWeights, opts: &ExportOptions) -> Result<(String, Layout, Vec<u8>)> {
    let dims = w.dims;
    let lanes = if opts.simd == Simd::Scalar { 1 } else { 4 };
    if dims.h1 % 4 != 0 || dims.d % (4 * dims.heads) != 0 || dims.f % 4 != 0 {
        return Err(Error::Export {
            reason: format!(
                "widths h1={}, d={}, f={} must be multiples of 4 (d of {}), as every preset is",
                dims.h1,
                dims.d,
                dims.f,
                4 * dims.heads
            ),
        });
    }
    debug_assert!(dims.h1 % lanes == 0);
    let exporter = format!("meltr {}", env!("CARGO_PKG_VERSION"));
    // The static data sits right after the return area (see Layout::new).
    let base = Layout::new(dims, w.num_tasks, 0).static_start;
    let (statics, st) = abi::static_data(w, base, &exporter);
    let layout = Layout::new(dims, w.num_tasks, statics.len() as u32);
    assert_eq!(layout.static_start, base);
    let mut text = String::new();
    text.push_str(";; MELTR head, generated by meltr::export; see wit/head.wit\n(module\n");
    text.push_str(&format!(
        "(memory (export \"memory\") {} {})\n",
        layout.pages,
        layout.pages + 16
    ));
    text.push_str(kernels::EXP);
    text.push_str(&program::forward(&layout, opts.simd));
    text.push_str(&program::backward(&layout, opts.simd));
    text.push_str(&abi::exports(
        w.num_tasks,
        layout.ret,
        layout.act.loss,
        layout.act.g_loss,
        layout.heap_base,
        st,
    ));
    text.push_str(")\n");
    Ok((text, layout, statics))
}

/// Appends the data section: the static data and the weights (with the
/// transposes the reverse pass uses).
fn append_data(module: &mut Vec<u8>, l: &Layout, w: &HeadWeights, statics: &[u8]) {
    let region = weights_region(l, w);
    let mut data = wasm_encoder::DataSection::new();
    let at = |x: u32| wasm_encoder::ConstExpr::i32_const(x as i32);
    data.active(0, &at(l.static_start), statics.iter().copied());
    data.active(0, &at(l.weights_start), region);
    use wasm_encoder::{Encode, Section};
    module.push(data.id());
    data.encode(module);
}

/// The bytes of the weights region, from `l.weights_start` on: every
/// tensor at its address, then the transposes.
fn weights_region(l: &Layout, w: &HeadWeights) -> Vec<u8> {
    let crate::head::Dims { h1, d, f, .. } = w.dims;
    let mut region = vec![0u8; (l.weights_end - l.weights_start) as usize];
    let mut put = |at: u32, v: &[f32]| {
        let i = (at - l.weights_start) as usize;
        for (j, x) in v.iter().enumerate() {
            region[i + 4 * j..i + 4 * j + 4].copy_from_slice(&x.to_le_bytes());
        }
    };
    for p in Param::ALL {
        put(l.weight(p), w.tensor(p));
    }
    let t = &l.t;
    put(t.fc2w, &transpose(w.tensor(Param::LossFc2Weight), d, h1));
    put(t.inw, &transpose(w.tensor(Param::InProjWeight), 3 * d, d));
    put(t.outw, &transpose(w.tensor(Param::OutProjWeight), d, d));
    put(t.w1, &transpose(w.tensor(Param::Linear1Weight), f, d));
    put(t.w2, &transpose(w.tensor(Param::Linear2Weight), d, f));
    region
}

/// `rows x cols` row-major to `cols x rows` row-major.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; m.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = m[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::marked;
    use crate::head::HeadInfo;

    /// The exported memory holds each tensor at the address the program
    /// reads it from, the layout's offset in the flat vector, and each
    /// transpose is its tensor's.
    #[test]
    fn memory_holds_each_tensor_where_the_layout_puts_it() {
        for hl in marked::heads() {
            let crate::head::Dims { h1, d, f, .. } = hl.dims();
            let l = Layout::new(hl.dims(), hl.num_tasks(), 64);
            for (position, flat) in marked::fills(&hl) {
                let w =
                    HeadWeights::from_flat(hl.dims(), hl.num_tasks(), &flat, HeadInfo::default())
                        .unwrap();
                let region = weights_region(&l, &w);
                let read = |at: u32, n: usize| -> Vec<f32> {
                    let i = (at - l.weights_start) as usize;
                    region[i..i + 4 * n]
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                };
                for p in Param::ALL {
                    assert_eq!(l.weight(p), l.weights_start + 4 * hl.offset(p) as u32);
                    marked::check(
                        "export",
                        p,
                        0,
                        &read(l.weight(p), hl.range(p).len()),
                        position,
                    );
                }
                // A transpose of a `rows x cols` tensor holds element (r, c) at c * rows + r.
                for (at, p, rows, cols) in [
                    (l.t.fc2w, Param::LossFc2Weight, d, h1),
                    (l.t.inw, Param::InProjWeight, 3 * d, d),
                    (l.t.outw, Param::OutProjWeight, d, d),
                    (l.t.w1, Param::Linear1Weight, f, d),
                    (l.t.w2, Param::Linear2Weight, d, f),
                ] {
                    assert_eq!(hl.shape(p), vec![rows, cols]);
                    let t = read(at, rows * cols);
                    for r in 0..rows {
                        for c in 0..cols {
                            let want = if position {
                                (r * cols + c) as f32
                            } else {
                                (p.index() + 1) as f32
                            };
                            assert_eq!(t[c * rows + r], want, "{p:?} transposed ({r}, {c})");
                        }
                    }
                }
            }
        }
    }
}
