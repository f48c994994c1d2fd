//! `meltr tasks`: the registered tasks, whether each loss is a mean over
//! examples or couples the batch's examples, and their one-line summaries.

use meltr::aux_task::registered_tasks;

/// Arguments of `meltr tasks`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON (`[{"name": ..., "coupling": ..., "summary": ...}]`) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Prints the registry.
pub fn run(args: Args) -> anyhow::Result<()> {
    let tasks = registered_tasks();
    if args.json {
        let v: Vec<_> = tasks
            .iter()
            .map(|t| {
                serde_json::json!({"name": t.name, "coupling": t.coupling.name(), "summary": t.summary})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        let w = tasks.iter().map(|t| t.name.len()).max().unwrap_or(4);
        for t in tasks {
            println!("{:<w$}  {:<11}  {}", t.name, t.coupling.name(), t.summary);
        }
    }
    Ok(())
}
