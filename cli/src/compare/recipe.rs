//! The recipes of `meltr compare`: run-file fragments of settings tables
//! appended to the methods' run files. `--extra FILE` is every method's;
//! `--recipe METHOD=FILE` (repeatable) is one method's own, laid over the
//! shared one key by key, so that each method trains with the recipe its
//! validation chose (its learning rate, say) in one comparison;
//! `--recipe-dir DIR` is a `--recipe` for each `DIR/METHOD.toml`.
//!
//! A `[schedule]` (holdout, meta_every, ring) is laid over the method's
//! own, key by key, like the other tables. It only means something to a
//! method that takes meta steps: in a method's own recipe it is an error
//! for one that takes none (`sum`, `uw`, ...), naming the method and the
//! file; in the shared recipe it is left out of those methods' run files,
//! with a note on stderr, so that one `--extra` serves a whole comparison.

use super::methods::{methods_by_name, Method};
use meltr::train::TrainConfig;
use meltr::{Error, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The tables a recipe may set; the methods set the others
/// (`[meta_loss]`, `[strategy]`) and the top-level keys.
pub const RECIPE_TABLES: [&str; 3] = ["optimizer", "meta", "schedule"];

/// The table only methods with meta steps use.
const SCHEDULE: &str = "schedule";

/// A recipe file, read and checked.
#[derive(Debug, Clone)]
struct Fragment {
    path: PathBuf,
    text: String,
    table: toml::Table,
}

impl Fragment {
    /// The fragment as `method` takes it: without `[schedule]` for a
    /// method without meta steps (the text unchanged otherwise, so that
    /// earlier runs of the same run file are reused).
    fn for_method(&self, method: Method) -> String {
        if method.meta_steps || !self.table.contains_key(SCHEDULE) {
            return self.text.clone();
        }
        let mut table = self.table.clone();
        table.remove(SCHEDULE);
        toml::to_string(&table).expect("tables serialise")
    }
}

/// The shared recipe and the methods' own.
#[derive(Debug, Clone, Default)]
pub struct Recipes {
    shared: Option<Fragment>,
    own: BTreeMap<String, Fragment>,
}

impl Recipes {
    /// Reads `extra` (every method's recipe), the `METHOD.toml` files of
    /// `dir` for the methods run, and `own` (`METHOD=FILE` pairs). A method
    /// of `own` must be a known one; one that is known but not among
    /// `methods` is reported on stderr and left out.
    pub fn load(
        extra: Option<&Path>,
        own: &[String],
        dir: Option<&Path>,
        methods: &[Method],
    ) -> Result<Recipes> {
        let mut r = Recipes {
            shared: extra.map(read).transpose()?,
            own: BTreeMap::new(),
        };
        if let Some(shared) = r.shared.as_ref().filter(|s| s.table.contains_key(SCHEDULE)) {
            let without: Vec<&str> = methods
                .iter()
                .filter(|m| !m.meta_steps)
                .map(|m| m.name)
                .collect();
            if !without.is_empty() {
                eprintln!(
                    "--extra {}: [schedule] is not used by {} (no meta steps)",
                    shared.path.display(),
                    without.join(", ")
                );
            }
        }
        let run = |pair: &String| {
            methods
                .iter()
                .any(|m| pair.starts_with(&format!("{}=", m.name)))
        };
        let in_dir = match dir {
            Some(d) => pairs_in(d)?.into_iter().filter(run).collect(),
            None => vec![],
        };
        for pair in in_dir.iter().chain(own) {
            let (name, file) = pair.split_once('=').ok_or_else(|| Error::InvalidSetting {
                field: "recipe".into(),
                value: pair.clone(),
                reason: "expected METHOD=FILE, e.g. sum=sum.toml".into(),
            })?;
            let method = methods_by_name(&[name.to_string()])?[0];
            let fragment = read(Path::new(file))?;
            if !methods.contains(&method) {
                eprintln!("--recipe {pair}: {name} is not among --methods; not used");
                continue;
            }
            if !method.meta_steps && fragment.table.contains_key(SCHEDULE) {
                return Err(Error::Config {
                    path: file.into(),
                    message: format!(
                        "[schedule] is the meta steps' schedule, and {name} ({}) takes none; \
                         give it to a method with meta steps (meltr, mix, unrolled, ...)",
                        method.label
                    ),
                });
            }
            if r.own.insert(name.into(), fragment).is_some() {
                return Err(Error::InvalidSetting {
                    field: "recipe".into(),
                    value: pair.clone(),
                    reason: format!("{name} has two recipes; give one per method"),
                });
            }
        }
        Ok(r)
    }

    /// The text appended to `method`'s run files (after its tables): the
    /// shared recipe or the method's own as written, or the method's own
    /// laid over the shared one.
    pub fn fragment(&self, method: Method) -> String {
        let Some(own) = self.own.get(method.name) else {
            let shared = self.shared.as_ref().map(|s| s.for_method(method));
            return format!("\n{}", shared.unwrap_or_default());
        };
        let Some(shared) = &self.shared else {
            return format!("\n{}", own.text);
        };
        let mut merged = shared.table.clone();
        if !method.meta_steps {
            merged.remove(SCHEDULE);
        }
        for (table, keys) in &own.table {
            let keys = keys.as_table().expect("checked: tables only");
            match merged.get_mut(table) {
                Some(toml::Value::Table(base)) => base.extend(keys.clone()),
                _ => {
                    merged.insert(table.clone(), toml::Value::Table(keys.clone()));
                }
            }
        }
        format!("\n{}", toml::to_string(&merged).expect("tables serialise"))
    }

    /// What `method`'s own recipe sets, for the table's label
    /// (`lr 2.5e-5, warmup 0.1`); `None` without one.
    pub fn describe(&self, method: &str) -> Option<String> {
        let own = self.own.get(method)?;
        let settings: Vec<String> = own
            .table
            .values()
            .filter_map(|t| t.as_table())
            .flat_map(|t| t.iter().map(|(k, v)| format!("{k} {}", show(v))))
            .collect();
        Some(settings.join(", "))
    }
}

/// `--recipe-dir DIR`: its `METHOD.toml` files as `METHOD=FILE` pairs
/// (sorted); a `.toml` file named for no method is an error.
pub fn pairs_in(dir: &Path) -> Result<Vec<String>> {
    let mut pairs = vec![];
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        methods_by_name(&[stem.to_string()]).map_err(|e| Error::Config {
            path: path.clone(),
            message: format!("a recipe folder's files are named METHOD.toml: {e}"),
        })?;
        pairs.push(format!("{stem}={}", path.display()));
    }
    pairs.sort();
    Ok(pairs)
}

/// A value as a person writes it: strings without quotes, small learning
/// rates in exponent form (`2.5e-5`).
fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(x) if *x != 0.0 && x.abs() < 1e-3 => format!("{x:e}"),
        other => other.to_string(),
    }
}

/// Reads a recipe file: settings tables only, each setting one the run
/// file knows (checked by laying it over a preset, so that a wrong key or
/// value is named with its line now, not when a run starts).
fn read(path: &Path) -> Result<Fragment> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let bad = |message: String| Error::Config {
        path: path.into(),
        message,
    };
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| bad(e.message().trim().to_string()))?;
    for (key, value) in &table {
        if !RECIPE_TABLES.contains(&key.as_str()) || !value.is_table() {
            let what = if value.is_table() {
                format!("[{key}]")
            } else {
                format!("{key} = {value}")
            };
            return Err(bad(format!(
                "{what}: a recipe sets only the tables [{}]; the methods set the others",
                RECIPE_TABLES.join("], [")
            )));
        }
    }
    TrainConfig::from_toml(&text, path)?;
    Ok(Fragment {
        path: path.into(),
        text,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::methods::METHODS;
    use std::path::PathBuf;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("meltr-recipe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn by(names: &[&str]) -> Vec<Method> {
        methods_by_name(&names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    fn one(name: &str) -> Method {
        by(&[name])[0]
    }

    #[test]
    fn a_methods_own_recipe_is_laid_over_the_shared_one_key_by_key() {
        let shared = file(
            "shared.toml",
            "[optimizer]\nlr = 5e-5\nschedule = \"linear\"\n[meta]\nlr = 1e-3\n",
        );
        let uw = file("uw.toml", "[optimizer]\nlr = 2.5e-5\n");
        let pair = format!("uw={}", uw.display());
        let r = Recipes::load(Some(&shared), &[pair], None, &by(&["sum", "uw"])).unwrap();
        // Without its own recipe a method gets the shared text unchanged
        // (so that earlier runs of the same run file are reused).
        assert_eq!(
            r.fragment(one("sum")),
            "\n[optimizer]\nlr = 5e-5\nschedule = \"linear\"\n[meta]\nlr = 1e-3\n"
        );
        let own: toml::Table = r.fragment(one("uw")).parse().unwrap();
        assert_eq!(own["optimizer"]["lr"].as_float(), Some(2.5e-5));
        assert_eq!(own["optimizer"]["schedule"].as_str(), Some("linear"));
        assert_eq!(own["meta"]["lr"].as_float(), Some(1e-3));
        assert_eq!(r.describe("uw").as_deref(), Some("lr 2.5e-5"));
        assert_eq!(r.describe("sum"), None);
        // Without a shared recipe, the method's own alone.
        let pair = format!("uw={}", uw.display());
        let r = Recipes::load(None, &[pair], None, &by(&["uw"])).unwrap();
        assert_eq!(r.fragment(one("uw")), "\n[optimizer]\nlr = 2.5e-5\n");
        // Both: only the method's keys change; the shared ones stay.
        let r = Recipes::load(
            Some(&uw),
            &[format!("sum={}", shared.display())],
            None,
            &by(&["sum"]),
        );
        let sum: toml::Table = r.unwrap().fragment(one("sum")).parse().unwrap();
        assert_eq!(sum["optimizer"]["lr"].as_float(), Some(5e-5));
        assert_eq!(Recipes::default().fragment(one("sum")), "\n");
    }

    #[test]
    fn a_schedule_is_laid_over_the_methods_own_for_methods_with_meta_steps_only() {
        let shared = file(
            "shared-schedule.toml",
            "[optimizer]\nlr = 5e-5\n[schedule]\nholdout = 8\nmeta_every = 5\n",
        );
        let own = file("holdout-32.toml", "[schedule]\nholdout = 32\n");
        let methods = by(&["sum", "linear", "meltr", "unrolled"]);
        let pairs = [
            format!("meltr={}", own.display()),
            format!("linear={}", own.display()),
        ];
        let r = Recipes::load(Some(&shared), &pairs, None, &methods).unwrap();
        // The whole run file each method trains with, as `compare` writes it.
        let config = |name: &str| {
            let tasks: Vec<String> = ["align", "cmlm", "mixup"].map(String::from).into();
            let text = super::super::methods::run_file(
                "preset = \"few\"\n",
                one(name),
                &tasks,
                "align",
                0,
                "univl",
            ) + &r.fragment(one(name));
            TrainConfig::from_toml(&text, Path::new("run.toml"))
                .unwrap_or_else(|e| panic!("{name}: {e}\n{text}"))
        };
        let few = TrainConfig::preset("few").unwrap().schedule;
        assert_ne!((few.holdout, few.meta_every), (8, 5), "a preset that tells");
        // Without meta steps: the method's own schedule (no holdout), the
        // shared [optimizer] still applied.
        let sum = config("sum");
        assert_eq!(
            (sum.schedule.holdout, sum.schedule.meta_every),
            (0, few.meta_every)
        );
        assert_eq!(sum.optimizer.lr, 5e-5);
        assert!(!r.fragment(one("sum")).contains("schedule"));
        // With: the shared keys over the preset's, the method's own over
        // both, key by key (ring stays the preset's).
        let unrolled = config("unrolled");
        assert_eq!(
            (
                unrolled.schedule.holdout,
                unrolled.schedule.meta_every,
                unrolled.schedule.ring
            ),
            (8, 5, few.ring)
        );
        for name in ["meltr", "linear"] {
            let c = config(name);
            assert_eq!(
                (c.schedule.holdout, c.schedule.meta_every, c.schedule.ring),
                (32, 5, few.ring),
                "{name}"
            );
            assert_eq!(c.optimizer.lr, 5e-5);
        }
        assert_eq!(r.describe("meltr").as_deref(), Some("holdout 32"));
        // A method without meta steps keeps the shared text verbatim when
        // there is no [schedule] to leave out (earlier runs are reused).
        let plain = file("plain.toml", "[optimizer]\nlr = 5e-5\n");
        let r = Recipes::load(Some(&plain), &[], None, &methods).unwrap();
        assert_eq!(r.fragment(one("sum")), "\n[optimizer]\nlr = 5e-5\n");
    }

    #[test]
    fn bad_recipes_are_refused_naming_the_file_the_field_and_the_value() {
        let ok = file("ok.toml", "[optimizer]\nlr = 1e-4\n");
        let load = |pair: String| {
            Recipes::load(None, &[pair], None, &METHODS)
                .unwrap_err()
                .to_string()
        };
        let e = load(format!("summ={}", ok.display()));
        assert!(e.contains("summ") && e.contains("known methods"), "{e}");
        let e = load("sum".into());
        assert!(e.contains("METHOD=FILE"), "{e}");
        let e = load("sum=/no/such/recipe.toml".into());
        assert!(e.contains("/no/such/recipe.toml"), "{e}");
        let strategy = file("strategy.toml", "[strategy]\ntype = \"neumann\"\n");
        let e = load(format!("meltr={}", strategy.display()));
        assert!(
            e.contains("strategy.toml") && e.contains("[strategy]"),
            "{e}"
        );
        // A [schedule] for a method without meta steps names both.
        let schedule = file("schedule.toml", "[schedule]\nholdout = 8\n");
        let e = load(format!("uw={}", schedule.display()));
        assert!(
            e.contains("schedule.toml")
                && e.contains("[schedule]")
                && e.contains("uw (uncertainty weighting"),
            "{e}"
        );
        let top = file("top.toml", "epochs = 3\n");
        let e = load(format!("meltr={}", top.display()));
        assert!(e.contains("top.toml") && e.contains("epochs = 3"), "{e}");
        let key = file("key.toml", "[optimizer]\nlr = 1e-4\nlearning_rate = 1e-4\n");
        let e = load(format!("sum={}", key.display()));
        assert!(e.contains("key.toml") && e.contains("learning_rate"), "{e}");
        assert!(e.contains("line 3"), "{e}");
        let e = Recipes::load(
            None,
            &[
                format!("sum={}", ok.display()),
                format!("sum={}", ok.display()),
            ],
            None,
            &METHODS,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("two recipes"), "{e}");
        // The shared recipe is checked the same way.
        let e = Recipes::load(Some(&strategy), &[], None, &METHODS)
            .unwrap_err()
            .to_string();
        assert!(e.contains("[strategy]"), "{e}");
        // A folder of METHOD.toml files: the methods run take theirs; a
        // method's own --recipe besides is a second recipe.
        let dir = std::env::temp_dir().join(format!("meltr-recipes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("uw.toml"), "[optimizer]\nlr = 3e-5\n").unwrap();
        std::fs::write(dir.join("dwa.toml"), "[optimizer]\nlr = 4e-5\n").unwrap();
        std::fs::write(dir.join("notes.txt"), "not a recipe").unwrap();
        let r = Recipes::load(None, &[], Some(&dir), &by(&["sum", "uw"])).unwrap();
        assert_eq!(r.describe("uw").as_deref(), Some("lr 3e-5"));
        assert_eq!(r.describe("dwa"), None);
        let again = [format!("uw={}", ok.display())];
        let e = Recipes::load(None, &again, Some(&dir), &by(&["uw"])).unwrap_err();
        assert!(e.to_string().contains("two recipes"), "{e}");
        std::fs::write(dir.join("uww.toml"), "[optimizer]\nlr = 3e-5\n").unwrap();
        let e = Recipes::load(None, &[], Some(&dir), &by(&["uw"])).unwrap_err();
        assert!(e.to_string().contains("uww.toml"), "{e}");
        // A known method that is not run is left out, not an error.
        let pair = format!("uw={}", ok.display());
        let r = Recipes::load(None, &[pair], None, &by(&["sum"])).unwrap();
        assert_eq!(r.fragment(one("uw")), "\n");
    }
}
