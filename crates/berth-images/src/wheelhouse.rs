//! Wheelhouses downloaded on the host (`pip download`) and the runner wheel (`pip wheel`).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::context::list_files;
use crate::error::{ImageError, Result};
use crate::hashing::hex;
use crate::{Progress, process};

/// Platform tags passed to `pip download`: manylinux wheels a glibc ≥ 2.34 image can load.
pub const PIP_PLATFORMS: &[&str] = &[
    "manylinux_2_34_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
];

/// Stamp file recording what a cached wheelhouse was downloaded for.
const STAMP: &str = ".berth-requirements";

/// How to get pip when the host lacks it.
const PIP_HINT: &str = "install Python 3 with pip on the host (`apt-get install python3-pip`) \
                        or set ImageBuilderConfig::host_python";

/// Directory names skipped when hashing or copying the runner source.
const SKIPPED_DIRS: &[&str] = &[
    ".git",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".venv",
    "__pycache__",
    "build",
    "dist",
    "tests",
];

/// Whether a runner source entry is left out (caches, build output, tests).
fn skipped(name: &str, is_dir: bool) -> bool {
    if is_dir {
        SKIPPED_DIRS.contains(&name) || name.ends_with(".egg-info")
    } else {
        name.ends_with(".pyc")
    }
}

/// Relative paths of the runner source files that go into its wheel, sorted.
fn runner_files(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let here = root.join(rel);
        let entries = std::fs::read_dir(&here)
            .map_err(|e| ImageError::io("reading runner source", &here, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| ImageError::io("reading runner source", &here, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry
                .file_type()
                .map_err(|e| ImageError::io("reading runner source", entry.path(), e))?;
            if skipped(&name, kind.is_dir()) {
                continue;
            }
            if kind.is_dir() {
                walk(root, &rel.join(&name), out)?;
            } else if kind.is_file() {
                out.push(rel.join(&name));
            }
        }
        Ok(())
    }
    if !dir.join("pyproject.toml").is_file() {
        return Err(ImageError::RunnerSourceMissing {
            path: dir.to_path_buf(),
        });
    }
    let mut out = Vec::new();
    walk(dir, Path::new(""), &mut out)?;
    out.sort();
    Ok(out)
}

/// SHA-256 (hex) over the runner source: relative paths and contents of every file except
/// caches, build output and tests.
pub fn runner_source_hash(runner_dir: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for rel in runner_files(runner_dir)? {
        let path = runner_dir.join(&rel);
        let data =
            std::fs::read(&path).map_err(|e| ImageError::io("reading runner source", &path, e))?;
        let name = rel.to_string_lossy();
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(&data);
    }
    Ok(hex(&hasher.finalize()))
}

/// `python -m pip download` of binary wheels for `python_version` into `dest`.
pub(crate) async fn download_wheels(
    host_python: &Path,
    python_version: &str,
    requirements: &[String],
    constraints: Option<&Path>,
    dest: &Path,
    progress: &Progress<'_>,
) -> Result<()> {
    let mut cmd = Command::new(host_python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .args(["--only-binary=:all:", "--python-version", python_version]);
    for platform in PIP_PLATFORMS {
        cmd.args(["--platform", platform]);
    }
    if let Some(c) = constraints {
        cmd.arg("-c").arg(c);
    }
    cmd.arg("-d").arg(dest).args(requirements);
    process::run(
        &format!(
            "downloading wheels for Python {python_version} ({}); every package must be \
             available as a manylinux wheel",
            requirements.join(" ")
        ),
        cmd,
        PIP_HINT,
        progress,
    )
    .await
}

/// The cached base wheelhouse for `python_version`: `<cache>/wheelhouse/py<version>/`,
/// downloaded once per requirement list. Returns the directory and its wheel names.
#[tracing::instrument(skip(cache_dir, host_python, progress))]
pub(crate) async fn ensure_base_wheelhouse(
    cache_dir: &Path,
    host_python: &Path,
    python_version: &str,
    requirements: &[String],
    progress: &Progress<'_>,
) -> Result<(PathBuf, Vec<String>)> {
    let root = cache_dir.join("wheelhouse");
    let dir = root.join(format!("py{python_version}"));
    let stamp = format!(
        "{}\n{}\n",
        requirements.join("\n"),
        PIP_PLATFORMS.join("\n")
    );
    if std::fs::read_to_string(dir.join(STAMP)).ok().as_deref() == Some(stamp.as_str()) {
        let wheels = list_files(&dir, Some(".whl"))?;
        if !wheels.is_empty() {
            return Ok((dir, wheels));
        }
    }
    std::fs::create_dir_all(&root)
        .map_err(|e| ImageError::io("creating the wheelhouse cache", &root, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(&root)
        .map_err(|e| ImageError::io("creating a download directory", &root, e))?;
    progress(&format!(
        "downloading the Python {python_version} wheelhouse: {}",
        requirements.join(" ")
    ));
    download_wheels(
        host_python,
        python_version,
        requirements,
        None,
        tmp.path(),
        progress,
    )
    .await?;
    std::fs::write(tmp.path().join(STAMP), &stamp)
        .map_err(|e| ImageError::io("writing the wheelhouse stamp", tmp.path(), e))?;
    publish_dir(tmp, &dir, |d| {
        std::fs::read_to_string(d.join(STAMP)).ok().as_deref() == Some(stamp.as_str())
    })?;
    let wheels = list_files(&dir, Some(".whl"))?;
    Ok((dir, wheels))
}

/// Moves a finished temporary directory to `dir`, replacing an outdated one. If another process
/// published a valid `dir` first (`is_valid`), that one is kept and `tmp` is discarded.
fn publish_dir(tmp: tempfile::TempDir, dir: &Path, is_valid: impl Fn(&Path) -> bool) -> Result<()> {
    if dir.exists() {
        if is_valid(dir) {
            return Ok(());
        }
        match std::fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ImageError::io("replacing a cache directory", dir, e)),
        }
    }
    match std::fs::rename(tmp.path(), dir) {
        Ok(()) => {
            // Already moved: nothing left for the guard to delete.
            let _ = tmp.keep();
            Ok(())
        }
        Err(_) if dir.exists() && is_valid(dir) => Ok(()),
        Err(e) => Err(ImageError::io("storing a cache directory", dir, e)),
    }
}

/// The runner wheel for a source hash: `<cache>/runner-wheels/<hash16>/berth_runner-*.whl`,
/// built with `pip wheel --no-deps` from a copy of the source (so the source tree stays clean).
#[tracing::instrument(skip(cache_dir, host_python, progress))]
pub(crate) async fn ensure_runner_wheel(
    cache_dir: &Path,
    host_python: &Path,
    runner_dir: &Path,
    source_hash: &str,
    progress: &Progress<'_>,
) -> Result<PathBuf> {
    let root = cache_dir.join("runner-wheels");
    let dir = root.join(&source_hash[..16]);
    if dir.is_dir()
        && let Some(name) = list_files(&dir, Some(".whl"))?.into_iter().next()
    {
        return Ok(dir.join(name));
    }
    std::fs::create_dir_all(&root)
        .map_err(|e| ImageError::io("creating the runner wheel cache", &root, e))?;
    let src = tempfile::Builder::new()
        .prefix("berth-runner-src-")
        .tempdir()
        .map_err(|e| ImageError::io("creating a temporary directory", std::env::temp_dir(), e))?;
    for rel in runner_files(runner_dir)? {
        let to = src.path().join(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| ImageError::io("copying runner source", parent, e))?;
        }
        std::fs::copy(runner_dir.join(&rel), &to)
            .map_err(|e| ImageError::io("copying runner source", &to, e))?;
    }
    let out = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&root)
        .map_err(|e| ImageError::io("creating a build directory", &root, e))?;
    progress(&format!(
        "building the berth-runner wheel from {}",
        runner_dir.display()
    ));
    let mut cmd = Command::new(host_python);
    cmd.args([
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .arg(src.path())
    .arg("-w")
    .arg(out.path());
    process::run("building the berth-runner wheel", cmd, PIP_HINT, progress).await?;
    publish_dir(out, &dir, |d| {
        list_files(d, Some(".whl")).is_ok_and(|w| !w.is_empty())
    })?;
    let name = list_files(&dir, Some(".whl"))?
        .into_iter()
        .next()
        .ok_or_else(|| ImageError::ToolFailed {
            step: "building the berth-runner wheel".to_string(),
            command: "pip wheel".to_string(),
            status: "success".to_string(),
            log: format!("no .whl file appeared in {}", dir.display()),
        })?;
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_hash_ignores_caches_and_tests() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pyproject.toml"), "[project]\nname='x'\n").unwrap();
        std::fs::create_dir_all(dir.path().join("berth/__pycache__")).unwrap();
        std::fs::write(dir.path().join("berth/__init__.py"), "").unwrap();
        let h1 = runner_source_hash(dir.path()).unwrap();
        std::fs::write(dir.path().join("berth/__pycache__/x.pyc"), "junk").unwrap();
        std::fs::create_dir_all(dir.path().join("tests")).unwrap();
        std::fs::write(dir.path().join("tests/test_x.py"), "").unwrap();
        assert_eq!(h1, runner_source_hash(dir.path()).unwrap());
        std::fs::write(dir.path().join("berth/__init__.py"), "X = 1\n").unwrap();
        assert_ne!(h1, runner_source_hash(dir.path()).unwrap());
    }

    #[test]
    fn missing_runner_source_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let e = runner_source_hash(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(e, ImageError::RunnerSourceMissing { .. }), "{e}");
    }
}
