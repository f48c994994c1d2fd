//! The report's `index.html`: the live page (the head's core module running
//! in the browser, `page.js`) above the static figures and metadata.
//!
//! | file           | content |
//! |----------------|---------|
//! | `index.html`   | the page; the report's numbers inline as JSON |
//! | `head-core.js` | the head's core module, base64, as `HEAD_CORE` |
//! | `page.js`      | sliders, the canonical-ABI calls, figures 3, 4, 7 |
//!
//! Scripts load with `<script src>` (no `fetch`), so the page works opened
//! from disk, with no server and no network.

use super::report::Report;
use super::training_log::TrainingLog;
use super::SandboxedHead;
use base64::Engine as _;

/// The page's script (plain JS, no build step).
pub(crate) const PAGE_JS: &str = include_str!("page.js");

/// `head-core.js`: the core module the page instantiates.
pub(crate) fn core_js(head: &SandboxedHead) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(head.core_module());
    format!(
        "// The core WebAssembly module of {}, the code inside the component.\nconst HEAD_CORE = \"{b64}\";\n",
        js_comment(head.origin())
    )
}

/// Text safe inside a `//` comment.
fn js_comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// JSON safe inside a `<script>` element (no `</script>`, no `<!--`).
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The whole `index.html`.
pub(crate) fn index_html(head: &SandboxedHead, r: &Report, log: Option<&TrainingLog>) -> String {
    let m = head.metadata();
    let opt = |o: Option<String>| o.unwrap_or_else(|| "—".into());
    let rows = [
        ("artifact", esc(head.origin())),
        ("format", esc(&m.format)),
        ("preset", esc(&opt(m.preset.clone()))),
        (
            "widths",
            format!(
                "h1 = {}, d = {}, f = {}, heads = {}",
                m.h1, m.d, m.f, m.heads
            ),
        ),
        ("tasks (K)", m.num_tasks.to_string()),
        (
            "primary task",
            opt(m.primary.map(|p| esc(&r.task_names[p as usize]))),
        ),
        ("meta steps", m.steps.to_string()),
        ("seed", opt(m.seed.map(|s| s.to_string()))),
        ("exporter", esc(&m.exporter)),
    ];
    let table: String = rows
        .iter()
        .map(|(a, b)| format!("<tr><th>{a}</th><td>{b}</td></tr>\n"))
        .collect();
    let fig = |file: &str, caption: &str| {
        if r.files.iter().any(|f| f == file) {
            format!("<figure><img src=\"{file}\" alt=\"{caption}\"><figcaption>{caption}</figcaption></figure>\n")
        } else {
            String::new()
        }
    };
    let fig4 = if r.has_log {
        fig(
            "fig4_weights.svg",
            "Figure 4 — each task's weight ∂f/∂l_k over training (from the training log).",
        )
    } else {
        "<p class=note>Figure 4 (weights over training) needs a training log: <code>meltr view head.wasm --log run.jsonl</code>.</p>\n".into()
    };
    let data = serde_json::json!({
        "task_names": r.task_names,
        "at": r.at,
        "pair": r.surface.as_ref().map(|s| [s.pair.0, s.pair.1]),
        "log": log.map(|l| serde_json::json!({"steps": l.steps, "weights": l.weights})),
    });
    let live_fig4 = if log.is_some() {
        "<svg id=fig4 class=chart></svg>"
    } else {
        ""
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MELTR head report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}th,td{{padding:2px 10px;text-align:left;border-bottom:1px solid #ddd}}
td.num,#value,#sum{{font-family:monospace}}input[type=range]{{width:260px}}
.chart{{width:49%;display:inline-block}}#fig7{{width:80%}}#error{{color:#b00;font-weight:bold}}
#values{{display:none}}figure{{margin:1.5em 0}}img{{max-width:100%}}figcaption{{color:#555}}.note{{color:#777}}</style></head>
<body>
<h1>MELTR head report</h1>
<h2>The head, live</h2>
<p id=status>Loading the head… (this page needs JavaScript and WebAssembly)</p>
<p>Move a slider (log scale) or type a loss; the head runs here, on your machine.
f(l) = <span id=value>—</span> · plain sum Σ l_k = <span id=sum>—</span></p>
<p id=error></p>
<table><tr><th>#</th><th>task</th><th>loss l_k (log scale)</th><th>value</th><th>∂f/∂l_k</th></tr>
<tbody id=controls></tbody></table>
<pre id=values></pre>
<svg id=fig3-value class=chart></svg><svg id=fig3-weight class=chart></svg>
{live_fig4}
<svg id=fig7></svg>
<h2>About the head</h2>
<p>Computed by running the exported WebAssembly artifact (the live part in this browser, the figures below in a wasmtime sandbox); no training code or weights file involved.</p>
<table>
{table}</table>
<h2>Static figures (typical values)</h2>
{f3a}{f3b}{fig4}{f7}
<script type="application/json" id="report-data">{data}</script>
<script src="head-core.js"></script>
<script src="page.js"></script>
</body></html>
"#,
        data = script_json(&data),
        f3a = fig("fig3_value.svg", "Figure 3 — the learned loss f against each input loss (relative to its typical value), the others held at their typical values."),
        f3b = fig("fig3_weights.svg", "Figure 3 — the per-task weight ∂f/∂l_k against l_k (relative to its typical value)."),
        f7 = fig("fig7_surface.svg", "Figure 7 — f over two input losses (left) beside their plain sum (right), the others at typical values."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_in_a_script_cannot_close_it() {
        let v =
            serde_json::json!({"task_names": ["</script><script>alert(1)</script>", "a&b<!--"]});
        let s = script_json(&v);
        assert!(
            !s.contains('<') && !s.contains('>') && !s.contains('&'),
            "{s}"
        );
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }
}
