//! A run file laid over its preset, the one way training and pretraining
//! read their run files. The file's top-level keys replace the preset's; in
//! the settings tables the caller names (`[optimizer]`, `[meta]`,
//! `[schedule]`) single keys replace the preset's and the others stay;
//! any other table (`[meta_loss]`, `[strategy]`) is replaced whole. The
//! result is deserialised once, so a setting is declared once, in its
//! config struct. Errors name the file, and the line and its text where
//! the setting is the file's.
//!
//! In every run file, `preset` names the *run file's* preset (training:
//! `train/presets/*.toml`; pretraining: [`crate::train::pretrain::PretrainConfig::preset`]).

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};

/// A run file's text, parsed, with its path for errors.
#[derive(Debug, Clone)]
pub struct RunFile {
    text: String,
    path: PathBuf,
    table: toml::Table,
}

impl RunFile {
    /// Parses `text` (TOML); `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RunFile> {
        let mut file = RunFile {
            text: text.into(),
            path: path.into(),
            table: toml::Table::new(),
        };
        file.table = toml::from_str(text).map_err(|e| file.error(toml_error_line(text, &e)))?;
        Ok(file)
    }

    /// Removes a top-level key the config struct does not hold (`preset`,
    /// pretraining's `[[tasks]]`) and returns its value.
    pub fn take(&mut self, key: &str) -> Option<toml::Value> {
        self.table.remove(key)
    }

    /// The run-file preset it names (a string), if any.
    pub fn take_preset(&mut self) -> Result<Option<String>> {
        match self.take("preset") {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.error(format!(
                "{}preset = {v}: expected the name of a preset",
                self.line_of(&[], "preset")
            ))),
        }
    }

    /// `preset` with this file's keys laid over it (see the module docs):
    /// `merged` names the settings tables merged key by key, `aliases`
    /// the old names of keys (`world_seed` for `data_seed`).
    pub fn over<T: DeserializeOwned>(
        &self,
        mut preset: toml::Table,
        merged: &[&str],
        aliases: &[(&str, &str)],
    ) -> Result<T> {
        for (key, value) in &self.table {
            let key = aliases
                .iter()
                .find(|(old, _)| old == key)
                .map_or(key.as_str(), |(_, new)| new);
            match (preset.get_mut(key), value) {
                (Some(toml::Value::Table(base)), toml::Value::Table(over))
                    if merged.contains(&key) =>
                {
                    base.extend(over.clone());
                }
                _ => {
                    preset.insert(key.into(), value.clone());
                }
            }
        }
        toml::Value::Table(preset)
            .try_into()
            .map_err(|e: toml::de::Error| self.error(self.locate(&e)))
    }

    /// An error about this file, on one line.
    pub fn error(&self, message: String) -> Error {
        Error::Config {
            path: self.path.clone(),
            message: message.trim_end().replace('\n', " | "),
        }
    }

    /// A deserialisation error of the merged table, with the line of the
    /// file's key it is about (`line N (`text`): `), found from the error's
    /// key path (`in `meta``) and the field an unknown-field error names.
    fn locate(&self, e: &toml::de::Error) -> String {
        let shown = e.to_string();
        let mut table: Vec<&str> = shown
            .lines()
            .filter_map(|l| l.strip_prefix("in `")?.strip_suffix('`'))
            .last()
            .map(|p| p.split('.').collect())
            .unwrap_or_default();
        let message = e.message().trim();
        let key = match message.split('`').nth(1) {
            Some(field) if message.starts_with("unknown field") => field,
            _ => table.pop().unwrap_or(""),
        };
        let at = self.line_of(&table, key);
        let path: Vec<&str> = table.iter().copied().chain([key]).collect();
        match at.is_empty() && !key.is_empty() {
            true => format!("{}: {message}", path.join(".")),
            false => format!("{at}{message}"),
        }
    }

    /// `line N (`text`): ` for `key` at the top level (`table` empty) or
    /// in `[table]`, else for the header `[table.key]`, else for `[table]`
    /// (`key` empty: its header); empty where the file does not write it so.
    fn line_of(&self, table: &[&str], key: &str) -> String {
        let header = format!("[{}]", table.join("."));
        let mut inside = table.is_empty();
        for (i, line) in self.text.lines().enumerate() {
            let l = line.trim();
            if l.starts_with('[') {
                inside = l == header;
                if inside && key.is_empty() {
                    return format!("line {} (`{l}`): ", i + 1);
                }
                continue;
            }
            let name = l.split('=').next().unwrap_or("").trim().trim_matches('"');
            if inside && !key.is_empty() && name == key && l.contains('=') {
                return format!("line {} (`{l}`): ", i + 1);
            }
        }
        if key.is_empty() {
            return String::new();
        }
        let sub: Vec<&str> = table.iter().copied().chain([key]).collect();
        match self.line_of(&sub, "") {
            found if found.is_empty() && !table.is_empty() => self.line_of(table, ""),
            found => found,
        }
    }
}

/// One line for a TOML error: the line number and text it points at, and the message.
pub(crate) fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let src = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line} (`{src}`): {}", e.message().trim())
        }
        None => e.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Settings {
        a: u32,
        b: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Config {
        n: u32,
        #[serde(alias = "old_m")]
        m: u32,
        settings: Settings,
        whole: toml::Table,
    }

    const PRESET: &str = "n = 1\nm = 2\n[settings]\na = 1\nb = 2\n[whole]\nx = 1\ny = 2\n";

    fn over(text: &str) -> Result<Config> {
        RunFile::parse(text, Path::new("run.toml"))?.over(
            PRESET.parse().unwrap(),
            &["settings"],
            &[("old_m", "m")],
        )
    }

    #[test]
    fn keys_replace_the_presets_settings_tables_merge_and_others_are_replaced_whole() {
        let c = over("old_m = 5\n[settings]\nb = 7\n[whole]\nz = 3\n").unwrap();
        assert_eq!((c.n, c.m), (1, 5));
        assert_eq!(c.settings, Settings { a: 1, b: 7 });
        assert_eq!(c.whole, "z = 3".parse::<toml::Table>().unwrap());
        assert_eq!(over("").unwrap().whole.len(), 2);
    }

    #[test]
    fn errors_name_the_file_and_the_line_of_the_files_key() {
        for (text, needle) in [
            ("n = 1\n\nm = \"x\"\n", "line 3 (`m = \"x\"`): invalid type"),
            (
                "n = 1\n[settings]\nc = 1\n",
                "line 3 (`c = 1`): unknown field `c`",
            ),
            ("nn = 1\n", "line 1 (`nn = 1`): unknown field `nn`"),
            ("n = 1\n[settings]\na = -1\n", "line 3 (`a = -1`)"),
            ("n = [1\n", "invalid array | expected `]`"),
            ("n = 1\nwhole = 3\n", "line 2 (`whole = 3`)"),
            (
                "n = 1\n[settings]\na = 1\nb = 1\nc = 1\n[whole]\n",
                "line 5 (`c = 1`)",
            ),
        ] {
            let e = over(text).unwrap_err().to_string();
            assert!(e.contains("run.toml") && e.contains(needle), "{text}: {e}");
        }
    }
}
