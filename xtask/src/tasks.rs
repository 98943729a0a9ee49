//! The tasks behind `cargo xtask`.

use std::process::Command;

use anyhow::Context;

use crate::python_env::{self, root, run};

/// Arguments of `cargo xtask build-images`.
#[derive(clap::Args)]
pub(crate) struct BuildImagesArgs {
    /// Python versions to build (default: every standard one this machine can build).
    #[arg(long = "python")]
    pub(crate) python: Vec<String>,
    /// Check a custom base image instead of building.
    #[arg(long)]
    pub(crate) validate: Option<String>,
}

pub(crate) fn build_images(_args: &BuildImagesArgs) -> anyhow::Result<()> {
    anyhow::bail!("image building is not wired in yet")
}

pub(crate) fn test() -> anyhow::Result<()> {
    let python = python_env::ensure()?;
    let root = root();
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["fmt", "--all", "--check"]))
    .context("formatting (run `cargo fmt`)")?;
    run(Command::new("cargo").current_dir(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace"])
        .env("BERTH_PYTHON", &python))?;
    run(Command::new(&python)
        .current_dir(root.join("runner/python"))
        .args(["-m", "pytest", "-q"])
        .env("PYTHONPATH", root.join("runner/python")))
    .context("runner tests")?;
    Ok(())
}

pub(crate) fn demo() -> anyhow::Result<()> {
    let python = python_env::ensure()?;
    let root = root();
    run(Command::new("cargo")
        .current_dir(&root)
        .args([
            "run",
            "--release",
            "--quiet",
            "--bin",
            "berth",
            "--",
            "run",
            "examples/gain/pipeline.yaml",
        ])
        .env("BERTH_PYTHON", &python))
}
