//! The Python environment of the host: a venv with the runner's dependencies at the pinned
//! iceoryx2 version, used by host-process nodes and the runner's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The pinned iceoryx2 version, from `iceoryx2-version.txt`.
pub(crate) fn iceoryx2_version() -> anyhow::Result<String> {
    let path = root().join("iceoryx2-version.txt");
    Ok(std::fs::read_to_string(&path)
        .with_context(|| format!("reading {}", path.display()))?
        .trim()
        .to_owned())
}

/// The type checker the runner is held to, pinned: a new release's checks are taken on purpose.
const MYPY: &str = "mypy==2.4.1";
/// The runner's linter, pinned for the same reason.
const RUFF: &str = "ruff==0.17.6";

/// Creates (once) `target/berth-venv` with iceoryx2, numpy, pytest, mypy and ruff, and returns
/// its interpreter.
pub(crate) fn ensure() -> anyhow::Result<PathBuf> {
    let venv = root().join("target/berth-venv");
    let python = venv.join("bin/python");
    let version = iceoryx2_version()?;
    let iceoryx2 = format!("iceoryx2=={version}");
    let packages = [iceoryx2.as_str(), "numpy", "pytest", MYPY, RUFF];
    // Named after what it holds: a change of the list (a tool's pin) completes the venv.
    let stamp = venv.join(format!(
        ".berth-{}",
        packages.join("_").replace(['=', '.'], "")
    ));
    if stamp.exists() {
        return Ok(python);
    }
    let base = std::env::var("BERTH_BASE_PYTHON").unwrap_or_else(|_| "python3".into());
    run(Command::new(&base).args(["-m", "venv"]).arg(&venv))
        .context("creating the venv (is python3-venv installed?)")?;
    run(Command::new(&python).args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"]))?;
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet"])
        .args(packages))?;
    std::fs::write(&stamp, "")?;
    println!("python environment ready: {}", python.display());
    Ok(python)
}

/// Runs a command, failing with its command line if it fails.
pub(crate) fn run(command: &mut Command) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}
