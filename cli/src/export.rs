//! `meltr export`: a head's weights file to a WebAssembly component.

use anyhow::Result;
use clap::Args;
use meltr::export::{export_file, ExportOptions, Simd};
use std::path::PathBuf;

/// Export a trained head to a self-contained WebAssembly component
/// (world `meltr:head/head`, see wit/head.wit).
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The head's weights (safetensors, e.g. from `meltr head init` or training).
    #[arg(long)]
    pub weights: PathBuf,
    /// Where to write the component.
    #[arg(long)]
    pub out: PathBuf,
    /// Vectorisation of the matrix products: v128, relaxed (fused multiply-add), scalar.
    #[arg(long, default_value = "v128", value_parser = ["v128", "relaxed", "scalar"])]
    pub simd: String,
    /// Also write the generated code (WebAssembly text, without the weights) here.
    #[arg(long)]
    pub wat: Option<PathBuf>,
}

/// Runs `meltr export`.
pub fn run(args: &ExportArgs) -> Result<()> {
    let simd = match args.simd.as_str() {
        "scalar" => Simd::Scalar,
        "relaxed" => Simd::RelaxedMadd,
        _ => Simd::V128,
    };
    let opts = ExportOptions { simd };
    let s = export_file(&args.weights, &args.out, &opts)?;
    if let Some(p) = &args.wat {
        let w = meltr::head::HeadWeights::load(&args.weights)?;
        let text = meltr::export::core_module_text(&w, &opts)?;
        meltr::atomic::write_atomic(p, text.as_bytes())?;
    }
    println!(
        "wrote {} ({} bytes: {} tasks, {} parameters, {} MiB of linear memory)",
        args.out.display(),
        s.bytes,
        s.num_tasks,
        s.num_params,
        s.memory_bytes >> 20
    );
    Ok(())
}
