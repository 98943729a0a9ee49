//! The tasks behind `cargo xtask`.

use std::process::Command;

use anyhow::Context;

use berth_images::terminal::Spinners;
use berth_images::{BaseMode, ImageBuilder, ImageBuilderConfig};
use berth_manifest::python_versions;

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

/// A multi-threaded runtime for a task.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Stops at once, with the command that installs it, when a host tool the images need is
/// missing.
pub(crate) fn preflight() -> anyhow::Result<()> {
    let on_path = |tool: &str| {
        std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
    };
    if !on_path("mmdebstrap") {
        anyhow::bail!(
            "mmdebstrap is missing: Berth makes its base images from a Debian root filesystem \
             without a registry. Install it with:\n\n    sudo apt-get install mmdebstrap\n"
        );
    }
    let pip = Command::new("python3")
        .args(["-c", "import pip, venv, ensurepip"])
        .status();
    if !pip.is_ok_and(|s| s.success()) {
        anyhow::bail!(
            "python3 with pip and venv is missing: Berth downloads the images' Python packages \
             on the host. Install them with:\n\n    sudo apt-get install python3-pip python3-venv\n"
        );
    }
    Ok(())
}

/// Builds the standard images of `versions` with a progress display; versions that cannot be
/// built here are reported (and fail the task only when asked for by name).
async fn ensure_standard_images(versions: &[&str], explicit: bool) -> anyhow::Result<usize> {
    let builder = ImageBuilder::with_config(
        berth_docker::connect_client().await?,
        ImageBuilderConfig::default(),
    );
    let mut built = 0;
    for version in versions {
        let started = std::time::Instant::now();
        let spinners = Spinners::new();
        let result = builder
            .ensure_base_image(version, BaseMode::Auto, &spinners)
            .await;
        match &result {
            Ok(_) => spinners.finish(),
            Err(_) => spinners.fail(),
        }
        match result {
            Ok(image) => {
                built += 1;
                let verb = if image.built { "built" } else { "up to date" };
                println!(
                    "{} {verb} in {:.1} s ({})",
                    image.tag,
                    started.elapsed().as_secs_f64(),
                    &image.id[..image.id.len().min(19)]
                );
            }
            Err(e) if !explicit => println!("berth/python:{version}: not built here: {e}"),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(built)
}

pub(crate) fn build_images(args: &BuildImagesArgs) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        if let Some(image) = &args.validate {
            let builder = ImageBuilder::with_config(
                berth_docker::connect_client().await?,
                ImageBuilderConfig::default(),
            );
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
            python_versions().iter().map(|v| v.version).collect()
        };
        if !explicit
            || versions
                .iter()
                .any(|v| berth_manifest::python_version(v).is_some_and(|p| p.offline()))
        {
            preflight()?;
        }
        let built = ensure_standard_images(&versions, explicit).await?;
        anyhow::ensure!(built > 0, "no standard image could be built");
        Ok(())
    })
}

/// The standard images the test suite runs nodes in: every version buildable offline.
fn test_images() -> Vec<&'static str> {
    python_versions()
        .iter()
        .filter(|v| v.offline())
        .map(|v| v.version)
        .collect()
}

pub(crate) fn test() -> anyhow::Result<()> {
    preflight()?;
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
    // `berth` without Docker: it must build, lint and pass its tests with only these parts.
    run(Command::new("cargo").current_dir(&root).args(
        [
            &["clippy", "-p", "berth", "--all-targets"],
            BERTH_WITHOUT_DOCKER,
            &["--", "-D", "warnings"],
        ]
        .concat(),
    ))?;
    // The runner's own rules: strict typing (mypy), lints and formatting (ruff), as configured
    // in its pyproject.toml; the benches' Python (nodes, probes) keeps the same lints and form.
    let runner_dir = root.join("runner/python");
    run(Command::new(&python)
        .current_dir(&runner_dir)
        .args(["-m", "mypy", "berth"]))
    .context("type-checking the runner (mypy --strict)")?;
    let python_code = [
        "berth",
        "tests",
        "../../benches/nodes",
        "../../benches/probes",
    ];
    run(Command::new(&python)
        .current_dir(&runner_dir)
        .args(["-m", "ruff", "check"])
        .args(python_code))
    .context("linting the runner and the benches' Python (ruff check)")?;
    run(Command::new(&python)
        .current_dir(&runner_dir)
        .args(["-m", "ruff", "format", "--diff"])
        .args(python_code))
    .context(
        "the runner's and the benches' Python not formatted: run `ruff format` (its diff above)",
    )?;
    // Every image the tests run nodes in, built once, up front, with progress shown; the
    // tests then find them (and would build them the same way if they were missing).
    println!(
        "images for the tests: berth/python:{}",
        test_images().join(", berth/python:")
    );
    let built = runtime()?.block_on(ensure_standard_images(&test_images(), true));
    built.context("building the test images")?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args(["test", "--workspace"])
        .env("BERTH_PYTHON", &python))?;
    run(Command::new("cargo")
        .current_dir(&root)
        .args([&["test", "-p", "berth"], BERTH_WITHOUT_DOCKER].concat())
        .env("BERTH_PYTHON", &python))?;
    run(Command::new(&python)
        .current_dir(root.join("runner/python"))
        .args(["-m", "pytest", "-q"])
        .env("PYTHONPATH", root.join("runner/python")))
    .context("runner tests")?;
    leak_check(&before)
}

/// The feature set `cargo xtask test` also checks `berth` with: no Docker, no bollard.
const BERTH_WITHOUT_DOCKER: &[&str] = &["--no-default-features", "--features", "process,iceoryx2"];

/// Berth's iceoryx2 files and shared-memory segments (names with the `berth_` prefix).
pub(crate) fn iceoryx2_files() -> Vec<String> {
    let mut files = Vec::new();
    for dir in [
        "/dev/shm",
        "/dev/shm/iceoryx2",
        "/dev/shm/iceoryx2/services",
        "/dev/shm/iceoryx2/nodes",
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
    let containers = runtime()?.block_on(async {
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

/// Builds the `berth` command (release) and returns its path.
pub(crate) fn release_berth() -> anyhow::Result<std::path::PathBuf> {
    let root = root();
    println!("building the berth command (release)");
    run(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--bin",
        "berth",
    ]))?;
    Ok(root.join("target/release/berth"))
}

/// The demo pipeline: one Python node in a container.
pub(crate) const DEMO_PIPELINE: &str = "examples/gain-docker/pipeline.yaml";

pub(crate) fn demo() -> anyhow::Result<()> {
    preflight()?;
    let root = root();
    let berth = release_berth()?;
    println!("berth build {DEMO_PIPELINE}");
    run(Command::new(&berth)
        .current_dir(&root)
        .args(["build", DEMO_PIPELINE]))?;
    println!("berth run {DEMO_PIPELINE} --seconds 2");
    run(Command::new(&berth)
        .current_dir(&root)
        .args(["run", DEMO_PIPELINE, "--seconds", "2"]))
}
