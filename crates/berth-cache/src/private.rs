//! Folders only their owner may write: what Berth later imports or trusts (the runner copy
//! host processes load) must not be writable by another user of a shared host.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Creates `dir` (and its parents) if needed, mode 0700, and checks that it belongs to this
/// user and that nobody else can write it; the error says how to fix it.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let mut meta = std::fs::metadata(dir)?;
    let me = std::fs::metadata("/proc/self")?.uid();
    if meta.uid() == me && meta.permissions().mode() & 0o700 != 0o700 {
        // Made under a narrower umask than usual: the owner must be able to search it.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        meta = std::fs::metadata(dir)?;
    }
    if meta.uid() != me || meta.permissions().mode() & 0o022 != 0 {
        return Err(std::io::Error::other(format!(
            "it must belong to you (uid {me}) and be writable by nobody else; fix: \
             `chown {me} {0} && chmod 700 {0}`",
            dir.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_folder_is_private_and_a_shared_one_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o022, 0, "{mode:o}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = private_dir(&dir).unwrap_err().to_string();
        assert!(err.contains("chmod 700"), "{err}");
    }
}
