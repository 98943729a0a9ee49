//! The tasks behind `cargo xtask`.

use std::process::Command;

use anyhow::Context;

use berth_images::{BaseMode, ImageBuilder, ImageBuilderConfig};

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

/// Python versions of the standard base images.
const STANDARD_PYTHONS: &[&str] = &["3.9", "3.10", "3.11"];

pub(crate) fn build_images(args: &BuildImagesArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let builder = ImageBuilder::connect(ImageBuilderConfig::default()).await?;
        let progress = |line: &str| println!("  {line}");
        if let Some(image) = &args.validate {
            let python = args.python.first().map(String::as_str).unwrap_or("3.11");
            builder.validate_custom_base(image, python).await?;
            println!(
                "{image}: Python {python}, iceoryx2 {}, Berth runner: usable as a base_image",
                berth_images::ICEORYX2_VERSION
            );
            return Ok(());
        }
        let explicit = !args.python.is_empty();
        let versions: Vec<&str> = if explicit {
            args.python.iter().map(String::as_str).collect()
        } else {
            STANDARD_PYTHONS.to_vec()
        };
        let mut built = 0;
        for version in versions {
            println!("berth/python:{version}");
            let started = std::time::Instant::now();
            match builder
                .ensure_base_image(version, BaseMode::Auto, &progress)
                .await
            {
                Ok(image) => {
                    built += 1;
                    let verb = if image.built { "built" } else { "up to date" };
                    println!(
                        "{} {verb} in {:.1} s ({})",
                        image.tag,
                        started.elapsed().as_secs_f64(),
                        image.id
                    );
                }
                Err(e) if !explicit => {
                    println!("berth/python:{version} not built on this machine: {e}")
                }
                Err(e) => return Err(e.into()),
            }
        }
        anyhow::ensure!(built > 0, "no standard image could be built");
        Ok(())
    })
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
