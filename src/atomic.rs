//! Atomic file writes: a temporary file in the same folder, then a rename,
//! so a reader never sees a half-written file and a crash loses nothing old.

use crate::error::{Error, Result};
use std::io::Write;
use std::path::Path;

/// What names a temporary file: `.NAME.tmp-PID`.
const TEMPORARY: &str = ".tmp-";

/// Whether `path` is a temporary file of [`write_atomic`] (one left behind
/// by a process killed mid-write).
pub fn is_temporary(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.') && n.contains(TEMPORARY))
}

/// Writes `bytes` to `path` atomically (temporary sibling file, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::io(path, std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}{TEMPORARY}{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("meltr-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.bin");
        write_atomic(&p, b"old").unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_folder_is_an_error_naming_the_path() {
        let p = Path::new("/nonexistent-meltr-dir/x.bin");
        let e = write_atomic(p, b"x").unwrap_err().to_string();
        assert!(e.contains("/nonexistent-meltr-dir/x.bin"), "{e}");
    }
}
