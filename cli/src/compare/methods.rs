//! The ways of combining the losses that `meltr compare` knows, each as
//! the run-file fragment that selects it.

use meltr::{Error, Result};

/// A way of combining the losses, as a run-file fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Method {
    /// Short name (`--methods` takes these).
    pub name: &'static str,
    /// What it is, for the table.
    pub label: &'static str,
    /// Whether it trains a MELTR head.
    pub meltr: bool,
    /// Whether it takes meta steps (a MELTR head or learned weights), so
    /// that a recipe's `[schedule]` applies to it.
    pub meta_steps: bool,
}

/// Every method, in the table's order.
pub const METHODS: [Method; 14] = [
    Method {
        name: "primary",
        label: "primary task only",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "sum",
        label: "plain multi-task sum",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "weighted",
        label: "fixed weights (primary 1, others 0.3)",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "grid",
        label: "fixed weights, auxiliary weight chosen on validation from {0.1, 0.3, 1}",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "uw",
        label: "uncertainty weighting (Kendall et al. 2018)",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "dwa",
        label: "dynamic weight average (Liu et al. 2019)",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "gradnorm",
        label: "GradNorm (Chen et al. 2018)",
        meltr: false,
        meta_steps: false,
    },
    Method {
        name: "linear",
        label: "learned linear (AID-FP-Lite)",
        meltr: false,
        meta_steps: true,
    },
    Method {
        name: "meltr",
        label: "MELTR, AID-FP-Lite",
        meltr: true,
        meta_steps: true,
    },
    Method {
        name: "mix",
        label: "MELTR, AID-FP-Lite, mix without scale (output = \"mix\")",
        meltr: true,
        meta_steps: true,
    },
    Method {
        name: "bounded",
        label: "MELTR, AID-FP-Lite, bounded mix (output = \"mix\", mix_bound = 2)",
        meltr: true,
        meta_steps: true,
    },
    Method {
        name: "neumann",
        label: "MELTR, Neumann (3 terms, α = 0.001)",
        meltr: true,
        meta_steps: true,
    },
    Method {
        name: "cg",
        label: "MELTR, conjugate gradient (3 iters)",
        meltr: true,
        meta_steps: true,
    },
    Method {
        name: "unrolled",
        label: "MELTR, one-step unrolled",
        meltr: true,
        meta_steps: true,
    },
];

/// The auxiliary weights the `grid` method tries (the primary's is 1).
pub const GRID: [f32; 3] = [0.1, 0.3, 1.0];

/// Looks methods up by name; the error lists the known names.
pub fn methods_by_name(names: &[String]) -> Result<Vec<Method>> {
    names
        .iter()
        .map(|n| {
            METHODS
                .iter()
                .copied()
                .find(|m| m.name == n)
                .ok_or_else(|| Error::InvalidSetting {
                    field: "methods".into(),
                    value: n.clone(),
                    reason: format!(
                        "known methods: {}",
                        METHODS
                            .iter()
                            .map(|m| m.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
        })
        .collect()
}

/// The run file of `method` on top of `base` (a run file with the shared
/// settings: preset, backbone, tasks with the primary first, ...); MELTR
/// methods use a head of size preset `head` (e.g. `univl`). The `grid`
/// method is one [`fixed_weights_run_file`] per value of [`GRID`].
pub fn run_file(
    base: &str,
    method: Method,
    tasks: &[String],
    primary: &str,
    seed: u64,
    head: &str,
) -> String {
    let k = tasks.len();
    // Methods without meta steps train on every example, held-out ones too.
    let none = "[strategy]\ntype = \"none\"\n[schedule]\nholdout = 0\n";
    let meltr_with = |strategy: &str, extra: &str| {
        format!("[meta_loss]\ntype = \"meltr\"\npreset = {head:?}\ntasks = {k}\nseed = {seed}\n{extra}[strategy]\n{strategy}\n")
    };
    let meltr = |strategy: &str| meltr_with(strategy, "");
    let body = match method.name {
        "primary" => format!("tasks = [{primary:?}]\n[meta_loss]\ntype = \"sum\"\n{none}"),
        "sum" => format!("[meta_loss]\ntype = \"sum\"\n{none}"),
        "weighted" => fixed_weights(tasks, primary, 0.3),
        "grid" => unreachable!("the grid is run as fixed weights, one run file per value"),
        "uw" => format!("[meta_loss]\ntype = \"uncertainty\"\ntasks = {k}\n{none}"),
        "dwa" => format!("[meta_loss]\ntype = \"dwa\"\ntasks = {k}\n{none}"),
        "gradnorm" => format!("[meta_loss]\ntype = \"gradnorm\"\ntasks = {k}\n{none}"),
        "linear" => format!("[meta_loss]\ntype = \"learned_linear\"\ntasks = {k}\n[strategy]\ntype = \"identity\"\n"),
        "meltr" => meltr("type = \"identity\""),
        "mix" => meltr_with("type = \"identity\"", "output = \"mix\"\n"),
        // The bound chosen on the digits' validation (docs/protocol-digits/bound.md).
        "bounded" => meltr_with(
            "type = \"identity\"",
            "output = \"mix\"\nmix_bound = 2.0\n",
        ),
        "neumann" => meltr("type = \"neumann\"\nterms = 3\nalpha = 0.001"),
        "cg" => meltr("type = \"conjugate_gradient\"\niters = 3\ndamping = 0.1"),
        "unrolled" => meltr("type = \"unrolled\"\nlr = 0.01"),
        other => unreachable!("unknown method {other}"),
    };
    tasks_and_body(base, method.name == "primary", tasks, seed, &body)
}

/// The run file of fixed weights, 1 for the primary task and `aux` for
/// the others (the `grid` method's runs).
pub fn fixed_weights_run_file(
    base: &str,
    tasks: &[String],
    primary: &str,
    seed: u64,
    aux: f32,
) -> String {
    tasks_and_body(
        base,
        false,
        tasks,
        seed,
        &fixed_weights(tasks, primary, aux),
    )
}

fn fixed_weights(tasks: &[String], primary: &str, aux: f32) -> String {
    let w: Vec<String> = tasks
        .iter()
        .map(|t| {
            if t == primary {
                "1.0".into()
            } else {
                format!("{aux:?}")
            }
        })
        .collect();
    format!(
        "[meta_loss]\ntype = \"weighted\"\nweights = [{}]\n[strategy]\ntype = \"none\"\n[schedule]\nholdout = 0\n",
        w.join(", ")
    )
}

fn tasks_and_body(
    base: &str,
    primary_only: bool,
    tasks: &[String],
    seed: u64,
    body: &str,
) -> String {
    let list = |v: &[String]| {
        format!(
            "[{}]",
            v.iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let tasks_line = if primary_only {
        String::new()
    } else {
        format!("tasks = {}\n", list(tasks))
    };
    // Every run's curves for `tensorboard --logdir <compare folder>`,
    // unless the base run file says otherwise.
    let has_switch = base
        .parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("tensorboard"));
    let tensorboard = if has_switch {
        ""
    } else {
        "tensorboard = true\n"
    };
    format!("{base}\nseed = {seed}\n{tensorboard}{tasks_line}{body}")
}

/// Whether a method trains a MELTR head.
pub fn is_meltr(method: &str) -> bool {
    METHODS.iter().any(|m| m.name == method && m.meltr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_takes_meta_steps_unless_its_run_file_says_strategy_none() {
        let tasks: Vec<String> = ["align", "mixup"].map(String::from).into();
        for m in METHODS.iter().filter(|m| m.name != "grid") {
            let text = run_file("preset = \"few\"\n", *m, &tasks, "align", 0, "univl");
            let strategy = text.split("[strategy]").nth(1).expect("a strategy");
            let none = strategy.trim_start().starts_with("type = \"none\"");
            assert_eq!(m.meta_steps, !none, "{}: {text}", m.name);
        }
        let grid = fixed_weights_run_file("", &tasks, "align", 0, 0.3);
        assert!(grid.contains("[strategy]\ntype = \"none\""));
        let grid_method = methods_by_name(&["grid".into()]).unwrap()[0];
        assert!(!grid_method.meta_steps);
    }
}
