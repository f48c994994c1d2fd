//! The task registry: every task crate registers its tasks with
//! [`register_task!`](crate::register_task) right below the type, which
//! records the name, the one-line summary and a constructor from the TOML
//! settings. Nothing else lists the tasks; linking a crate is enough to
//! make its tasks known.
//!
//! ```
//! # use meltr::aux_task::*;
//! let known = registered_tasks(); // sorted by name; empty unless task crates are linked
//! let err = build_task("no_such_task", &Default::default()).unwrap_err();
//! assert!(err.to_string().contains("unknown task `no_such_task`"));
//! # let _ = known;
//! ```

use super::{AuxTask, Task};
use crate::error::{Error, Result};

/// One registered task: name, summary, constructor.
#[derive(Debug)]
pub struct TaskRegistration {
    /// The name a run file uses (`type = "cmlm"`, or `"cmlm"` in `tasks`).
    pub name: &'static str,
    /// One line for `meltr tasks`.
    pub summary: &'static str,
    /// [`Task::COUPLING`].
    pub coupling: super::Coupling,
    /// Builds the task from its settings (a TOML table without `type`) and validates them.
    pub build: fn(&toml::Table) -> Result<Box<dyn AuxTask>>,
}

inventory::collect!(TaskRegistration);

impl TaskRegistration {
    /// The registration of task type `T`.
    pub const fn of<T: Task>() -> TaskRegistration {
        TaskRegistration {
            name: T::NAME,
            coupling: T::COUPLING,
            summary: T::SUMMARY,
            build: build::<T>,
        }
    }
}

/// What [`register_task!`](crate::register_task) expands to.
#[doc(hidden)]
pub use inventory::submit;

/// Registers task type `T` under [`Task::NAME`]: `register_task!(MyTask);`.
#[macro_export]
macro_rules! register_task {
    ($t:ty) => {
        $crate::aux_task::submit!($crate::aux_task::TaskRegistration::of::<$t>());
    };
}

/// Deserialises task `T` from its settings and validates them; an unknown,
/// ill-typed or out-of-range field is an error naming the task and the field.
fn build<T: Task>(settings: &toml::Table) -> Result<Box<dyn AuxTask>> {
    let error = |message: String| Error::TaskConfig {
        task: T::NAME.to_string(),
        message,
    };
    let task: T = toml::Value::Table(settings.clone())
        .try_into()
        .map_err(|e: toml::de::Error| error(e.message().to_string()))?;
    task.validate().map_err(|e| error(e.to_string()))?;
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
pub fn build_task(name: &str, settings: &toml::Table) -> Result<Box<dyn AuxTask>> {
    (find_task(name)?.build)(settings)
}
