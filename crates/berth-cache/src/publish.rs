//! Cache folders appear whole: they are filled in a temporary folder beside their place and
//! renamed into it, so a concurrent reader never sees half of one.

use std::path::Path;

use crate::CacheError;

/// Moves a finished temporary directory to `dir`, replacing an outdated one. If another process
/// published a valid `dir` first (`is_valid`), that one is kept and `tmp` is discarded.
pub fn publish_dir(
    tmp: tempfile::TempDir,
    dir: &Path,
    is_valid: impl Fn(&Path) -> bool,
) -> Result<(), CacheError> {
    if dir.exists() {
        if is_valid(dir) {
            return Ok(());
        }
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CacheError::io("replacing a cache directory", dir, e)),
        }
    }
    match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            // Already moved: nothing left for the guard to delete.
            let _ = tmp.keep();
            Ok(())
        }
        Err(_) if dir.exists() && is_valid(dir) => Ok(()),
        Err(e) => Err(CacheError::io("storing a cache directory", dir, e)),
    }
}
