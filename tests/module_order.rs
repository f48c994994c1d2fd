//! The library's modules follow one dependency order (docs/design.md,
//! "Layout"): each top-level module of `src/` may use only the modules
//! listed before it in [`ORDER`], so no module imports one that imports it
//! back, and the generic core never names a built-in model or data set.
//!
//! Read from the source text: every `crate::m` and `$crate::m` outside a
//! comment is an edge to `m`.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. A module may use the ones before it, never one after it.
const ORDER: &[&str] = &[
    "error",
    "atomic",
    "checksum",
    "tensor",
    "distributed",
    "backbone",
    "dataset",
    "aux_task",
    "meta_loss",
    "head",
    "hypergrad",
    "train",
    "export",
    "viewer",
    "testing",
    "domains",
    "prelude",
];

/// Top-level module of a file under `src/` (`None` for `lib.rs`).
fn top_module(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib").then(|| name.to_string())
}

/// The text of a line before its `//` comment (a `//` right after `:` is a
/// URL inside a string, not a comment).
fn code_part(line: &str) -> &str {
    let bytes = line.as_bytes();
    for i in 0..bytes.len().saturating_sub(1) {
        if bytes[i] == b'/' && bytes[i + 1] == b'/' && (i == 0 || bytes[i - 1] != b':') {
            return &line[..i];
        }
    }
    line
}

/// Every `(file:line, used module)` edge of the file's code.
fn uses(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = code_part(line);
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let before = &rest[..at];
            let after = &rest[at + "crate::".len()..];
            let is_path = before.is_empty()
                || before.ends_with('$')
                || !before.ends_with(|c: char| c.is_alphanumeric() || c == '_');
            let ident: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if is_path && !ident.is_empty() && ident.chars().next().unwrap().is_lowercase() {
                out.push((n + 1, ident));
            }
            rest = after;
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn modules_use_only_the_ones_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |m: &str| ORDER.iter().position(|o| *o == m);
    let mut seen = BTreeSet::new();
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let Some(from) = top_module(rel) else {
            continue;
        };
        seen.insert(from.clone());
        let Some(from_rank) = rank(&from) else {
            wrong.push(format!(
                "{}: module `{from}` is not in ORDER",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for (line, to) in uses(&text) {
            if to == from {
                continue;
            }
            match rank(&to) {
                Some(r) if r < from_rank => {}
                Some(_) => wrong.push(format!(
                    "{}:{line}: `{from}` uses `{to}`, which comes after it",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "{}:{line}: `{from}` uses `{to}`, which is not in ORDER",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        seen.len() >= 10,
        "read too few modules: {seen:?} (is src/ where the test looks?)"
    );
    assert!(
        wrong.is_empty(),
        "module order broken:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_paths_and_skips_comments() {
    let text = "use crate::tensor::ParamVec; // crate::train is only a comment\n\
                let p = $crate::meta_loss::Sum;\n\
                /// crate::domains in a doc comment\n\
                let url = \"https://example.org\"; foo_crate::bar();\n";
    let got: Vec<String> = uses(text).into_iter().map(|(_, m)| m).collect();
    assert_eq!(got, ["tensor", "meta_loss"]);
}
