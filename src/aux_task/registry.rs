//! The task registry: every task crate registers itself with
//! `inventory::submit!` right below its type, giving its name, a one-line
//! summary and a constructor from its TOML settings. Nothing else lists
//! the tasks; linking a crate is enough to make its tasks known.
//!
//! ```
//! # use meltr::aux_task::*;
//! let known = registered_tasks(); // sorted by name; empty unless task crates are linked
//! let err = build_task("no_such_task", &toml::Value::Table(Default::default())).unwrap_err();
//! assert!(err.to_string().contains("unknown task `no_such_task`"));
//! # let _ = known;
//! ```

use super::AuxTask;
use crate::error::{Error, Result};
use serde::de::DeserializeOwned;

/// One registered task: name, summary, constructor.
#[derive(Debug)]
pub struct TaskRegistration {
    /// The name a run file uses (`type = "cmlm"`); equals the typetag name.
    pub name: &'static str,
    /// One line for `meltr tasks`.
    pub summary: &'static str,
    /// Builds the task from its settings (a TOML table without `type`).
    pub build: fn(&toml::Value) -> Result<Box<dyn AuxTask>>,
}

inventory::collect!(TaskRegistration);

impl TaskRegistration {
    /// The registration of task type `T`, built by deserialising its settings.
    pub const fn of<T: AuxTask + DeserializeOwned + 'static>(
        name: &'static str,
        summary: &'static str,
    ) -> TaskRegistration {
        TaskRegistration {
            name,
            summary,
            build: from_config::<T>,
        }
    }
}

/// Deserialises task `T` from its settings; an unknown or ill-typed field is
/// an error naming the task and the field.
pub fn from_config<T: AuxTask + DeserializeOwned + 'static>(
    config: &toml::Value,
) -> Result<Box<dyn AuxTask>> {
    let task: T = config
        .clone()
        .try_into()
        .map_err(|e: toml::de::Error| Error::TaskConfig {
            task: std::any::type_name::<T>()
                .rsplit("::")
                .next()
                .unwrap_or("?")
                .to_lowercase(),
            message: e.message().to_string(),
        })?;
    Ok(Box::new(task))
}

/// All registered tasks, sorted by name.
pub fn registered_tasks() -> Vec<&'static TaskRegistration> {
    let mut v: Vec<_> = inventory::iter::<TaskRegistration>.into_iter().collect();
    v.sort_by_key(|r| r.name);
    v.dedup_by_key(|r| r.name);
    v
}

/// The registration called `name`, or an error listing the known tasks.
pub fn find_task(name: &str) -> Result<&'static TaskRegistration> {
    let all = registered_tasks();
    all.iter()
        .find(|r| r.name == name)
        .copied()
        .ok_or_else(|| Error::UnknownTask {
            name: name.to_string(),
            known: if all.is_empty() {
                "(none registered)".to_string()
            } else {
                all.iter().map(|r| r.name).collect::<Vec<_>>().join(", ")
            },
        })
}

/// Builds task `name` from its settings.
pub fn build_task(name: &str, config: &toml::Value) -> Result<Box<dyn AuxTask>> {
    let reg = find_task(name)?;
    (reg.build)(config).map_err(|e| match e {
        Error::TaskConfig { message, .. } => Error::TaskConfig {
            task: name.to_string(),
            message,
        },
        other => other,
    })
}

/// Builds tasks from run-file tables, each naming its task in `type`:
///
/// ```toml
/// [[tasks]]
/// type = "cmlm"
/// mask_prob = 0.15
/// ```
pub fn tasks_from_toml(tables: &[toml::Value]) -> Result<Vec<Box<dyn AuxTask>>> {
    tables
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut table = t.as_table().cloned().ok_or_else(|| Error::TaskConfig {
                task: format!("#{}", i + 1),
                message: "expected a table with a `type` naming the task".into(),
            })?;
            let name = match table.remove("type") {
                Some(toml::Value::String(s)) => s,
                _ => {
                    return Err(Error::TaskConfig {
                        task: format!("#{}", i + 1),
                        message: "missing `type` (the task's name, e.g. type = \"cmlm\")".into(),
                    })
                }
            };
            build_task(&name, &toml::Value::Table(table))
        })
        .collect()
}
