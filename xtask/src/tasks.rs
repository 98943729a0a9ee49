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
    let before = iceoryx2_files();
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
    leak_check(&before)
}

/// Berth's iceoryx2 files and shared-memory segments (names with the `berth_` prefix).
fn iceoryx2_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "/dev/shm",
        "/tmp/iceoryx2",
        "/tmp/iceoryx2/services",
        "/tmp/iceoryx2/nodes",
    ] {
        if let Ok(entries) = std::fs::read_dir(dir) {
            files.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("berth_"))
                    .map(|e| e.path().display().to_string()),
            );
        }
    }
    files
}

/// After the whole suite: no container of Berth remains, and no iceoryx2 file or shared-memory
/// segment beyond those present before the suite (`before`).
fn leak_check(before: &[String]) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let containers = runtime.block_on(async {
        let docker = berth_docker::DockerBackend::new().client().await?;
        let filters = std::collections::HashMap::from([(
            "label".to_owned(),
            vec!["berth.managed-by=berth".to_owned()],
        )]);
        let options = bollard::query_parameters::ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        let list = docker.list_containers(Some(options)).await?;
        anyhow::Ok(
            list.into_iter()
                .flat_map(|c| c.names.unwrap_or_default())
                .collect::<Vec<_>>(),
        )
    });
    let containers = match containers {
        Ok(found) => found,
        Err(e) if std::env::var("BERTH_REQUIRE_DOCKER").as_deref() == Ok("1") => return Err(e),
        Err(_) => Vec::new(),
    };
    let files: Vec<String> = iceoryx2_files()
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    anyhow::ensure!(
        containers.is_empty(),
        "containers left behind by the tests: {containers:?}"
    );
    anyhow::ensure!(
        files.is_empty(),
        "iceoryx2 resources left behind by the tests: {files:?}"
    );
    println!("leak check: no Berth container, iceoryx2 file or shared-memory segment remains");
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
