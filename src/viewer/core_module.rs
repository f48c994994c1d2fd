//! The core module inside a head component: the code the live page runs in
//! the browser (a browser runs core modules, not components). It is the
//! exporter's generated module itself, taken out of the artifact, so the
//! page and the sandbox run the same instructions.

use crate::error::{Error, Result};
use wasmparser::{Parser, Payload};

/// The exports the page calls (canonical ABI of `wit/head.wit`).
const NEEDED: [&str; 5] = ["memory", "cabi_realloc", "eval", "weights", "evaluate"];

/// Finds the one core module of `component` that exports what the page
/// calls and imports nothing; `origin` names the artifact in errors.
pub(crate) fn extract(component: &[u8], origin: &str) -> Result<Vec<u8>> {
    let refuse = |reason: String| Error::BadArtifact {
        origin: origin.into(),
        reason,
    };
    let mut found = vec![];
    for payload in Parser::new(0).parse_all(component) {
        let payload = payload.map_err(|e| refuse(e.to_string()))?;
        if let Payload::ModuleSection {
            unchecked_range, ..
        } = payload
        {
            let module = &component[unchecked_range];
            if runs_in_a_page(module).map_err(|e| refuse(e.to_string()))? {
                found.push(module.to_vec());
            }
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        n => Err(refuse(format!(
            "{n} core modules export {} and import nothing; the page needs exactly one",
            NEEDED.join(", ")
        ))),
    }
}

/// Whether `module` imports nothing and exports every name in [`NEEDED`].
fn runs_in_a_page(module: &[u8]) -> std::result::Result<bool, wasmparser::BinaryReaderError> {
    let mut exports = vec![];
    for payload in Parser::new(0).parse_all(module) {
        match payload? {
            Payload::ImportSection(s) if s.count() > 0 => return Ok(false),
            Payload::ExportSection(s) => {
                for e in s {
                    exports.push(e?.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(NEEDED.iter().all(|n| exports.iter().any(|e| e == n)))
}
