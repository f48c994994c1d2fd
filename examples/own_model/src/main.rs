//! `meltr` with our model and task linked: the same command line as the
//! `meltr` binary (`meltr_cli::main`), and since this crate is linked, run
//! files can name its model (`model = "own_mlp"`) and its tasks.
//!
//! `cargo run -p meltr-example-own-model -- train --config examples/own_model/run.toml --out runs/own_model`

use meltr_example_own_model as _;

fn main() -> std::process::ExitCode {
    meltr_cli::main()
}
