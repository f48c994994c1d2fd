//! [`TaskSpec`]: a task as a run file writes it — plain data, built into a
//! task object after parsing ([`TaskSpec::build`]).
//!
//! A run file lists tasks as bare names (the task with its default
//! settings) or as tables naming the task in `type`, both in one list:
//!
//! ```
//! # use meltr::aux_task::TaskSpec;
//! #[derive(serde::Deserialize)]
//! struct Run { tasks: Vec<TaskSpec> }
//! let run: Run = toml::from_str(r#"tasks = ["align", { type = "cmlm", mask_prob = 0.2 }]"#).unwrap();
//! assert_eq!(run.tasks[0].name, "align");
//! assert_eq!(run.tasks[1].settings["mask_prob"].as_float(), Some(0.2));
//! ```

use super::{build_task, AuxTask};
use crate::error::Result;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A task's name and its settings; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// The registered name.
    pub name: String,
    /// The settings (the table without `type`); empty for the defaults.
    pub settings: toml::Table,
}

impl TaskSpec {
    /// Task `name` with its default settings.
    pub fn named(name: impl Into<String>) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            settings: toml::Table::new(),
        }
    }

    /// The task object; errors name the task and the field.
    pub fn build(&self) -> Result<Box<dyn AuxTask>> {
        build_task(&self.name, &self.settings)
    }
}

impl From<&str> for TaskSpec {
    fn from(name: &str) -> TaskSpec {
        TaskSpec::named(name)
    }
}

/// A bare name when the settings are the defaults (as run files written
/// before tables were accepted), else a table with `type` first.
impl Serialize for TaskSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.settings.is_empty() {
            return s.serialize_str(&self.name);
        }
        let mut t = toml::Table::new();
        t.insert("type".into(), toml::Value::String(self.name.clone()));
        t.extend(self.settings.clone());
        t.serialize(s)
    }
}

impl<'de> Deserialize<'de> for TaskSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<TaskSpec, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Written {
            Name(String),
            Table(toml::Table),
        }
        let mut settings = match Written::deserialize(d).map_err(|_| {
            de::Error::custom("a task is a name (\"cmlm\") or a table with `type` naming it")
        })? {
            Written::Name(name) => return Ok(TaskSpec::named(name)),
            Written::Table(t) => t,
        };
        match settings.remove("type") {
            Some(toml::Value::String(name)) => Ok(TaskSpec { name, settings }),
            _ => Err(de::Error::custom(
                "missing `type` (the task's name, e.g. type = \"cmlm\")",
            )),
        }
    }
}
