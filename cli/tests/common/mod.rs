//! Helpers the CLI's training tests share: `meltr train` as a child process
//! (so a test can kill it) and waiting for one to succeed.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Starts `meltr train --quiet --config CONFIG --out OUT [--resume]`, its
/// standard error piped for [`finish`].
pub fn train(config: &Path, out: &Path, resume: bool) -> Child {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meltr"));
    c.args(["train", "--quiet", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out);
    if resume {
        c.arg("--resume");
    }
    c.stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for a run started by [`train`]; fails the test with its standard
/// error when it did not succeed.
pub fn finish(child: Child) {
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
