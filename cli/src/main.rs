//! `meltr`: the command line of [`meltr_cli`] with the built-in tasks.

fn main() -> std::process::ExitCode {
    meltr_cli::main()
}
