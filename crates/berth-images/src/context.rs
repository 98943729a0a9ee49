//! In-memory tar archives used as `docker build` contexts.

use std::path::Path;

use crate::error::{ImageError, Result};

/// A build context under construction: a tar archive held in memory.
pub(crate) struct BuildContext {
    builder: tar::Builder<Vec<u8>>,
}

impl BuildContext {
    /// An empty context.
    pub(crate) fn new() -> Self {
        BuildContext {
            builder: tar::Builder::new(Vec::new()),
        }
    }

    /// Adds a file with the given content (mode 0644, mtime 0 so that contexts are reproducible).
    pub(crate) fn add_bytes(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        self.builder
            .append_data(&mut header, path, data)
            .map_err(|e| ImageError::io("adding a file to the build context", path, e))
    }

    /// Adds a host file under `path` in the context.
    pub(crate) fn add_file(&mut self, path: &str, host: &Path) -> Result<()> {
        let data = std::fs::read(host)
            .map_err(|e| ImageError::io("reading a file for the build context", host, e))?;
        self.add_bytes(path, &data)
    }

    /// Adds every regular file directly inside `dir` under `prefix/` and returns their names,
    /// sorted.
    pub(crate) fn add_dir_files(&mut self, prefix: &str, dir: &Path) -> Result<Vec<String>> {
        let names = list_files(dir, None)?;
        for name in &names {
            self.add_file(&format!("{prefix}/{name}"), &dir.join(name))?;
        }
        Ok(names)
    }

    /// The finished tar archive.
    pub(crate) fn finish(self) -> Result<Vec<u8>> {
        self.builder
            .into_inner()
            .map_err(|e| ImageError::io("finishing the build context", "<memory>", e))
    }
}

/// Names of the regular files directly inside `dir` (optionally only those ending in
/// `suffix`), sorted.
pub(crate) fn list_files(dir: &Path, suffix: Option<&str>) -> Result<Vec<String>> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ImageError::io("listing a directory", dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ImageError::io("listing a directory", dir, e))?;
        let is_file = entry
            .file_type()
            .map_err(|e| ImageError::io("listing a directory", dir, e))?
            .is_file();
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_file && suffix.is_none_or(|s| name.ends_with(s)) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_round_trips() {
        let mut ctx = BuildContext::new();
        ctx.add_bytes("Dockerfile", b"FROM scratch\n").unwrap();
        ctx.add_bytes("wheels/a.whl", b"x").unwrap();
        let tar = ctx.finish().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile", "wheels/a.whl"]);
    }
}
