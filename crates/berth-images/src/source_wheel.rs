//! The iceoryx2 wheel for images whose glibc is older than the published wheel's: built on the
//! host from the `iceoryx2` sdist on PyPI with maturin, linked through zig against the image's
//! glibc, and cached as `<cache>/source-wheels/iceoryx2-<version>-glibc<M>.<m>/`.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::context::list_files;
use crate::error::{ImageError, Result};
use crate::{ICEORYX2_VERSION, Progress, Step, process};

/// The build tools, installed into a cached venv on the host.
const TOOLS: &[&str] = &["maturin>=1.16,<2", "ziglang"];

/// How to get what the build needs.
const HINT: &str = "building iceoryx2 from source needs the host's python3 with venv and pip, \
                    and cargo on PATH (rustup)";

/// The folder holding the iceoryx2 wheel for `glibc`, building it first if needed.
#[tracing::instrument(skip(cache_dir, host_python, progress))]
pub(crate) async fn ensure_iceoryx2_wheel(
    cache_dir: &Path,
    host_python: &Path,
    glibc: (u32, u32),
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let (major, minor) = glibc;
    let root = cache_dir.join("source-wheels");
    let dir = root.join(format!("iceoryx2-{ICEORYX2_VERSION}-glibc{major}.{minor}"));
    let has_wheel = |d: &Path| list_files(d, Some(".whl")).is_ok_and(|w| !w.is_empty());
    if has_wheel(&dir) {
        return Ok(dir);
    }
    // One builder at a time (it also guards the shared tools venv); the next one reuses.
    let _lock = berth_cache::cache_lock(
        cache_dir,
        "source-wheels.lock",
        "iceoryx2 from source",
        progress,
    )
    .await?;
    if has_wheel(&dir) {
        return Ok(dir);
    }
    progress.step(
        Step::SourceWheel,
        &format!(
            "iceoryx2 {ICEORYX2_VERSION} for glibc {major}.{minor}, from its sdist (about 2-3 \
             minutes)"
        ),
    );
    let tools = ensure_tools(cache_dir, host_python, progress).await?;
    std::fs::create_dir_all(&root)
        .map_err(|e| ImageError::io("creating the source wheel cache", &root, e))?;
    let work = tempfile::Builder::new()
        .prefix(".build-")
        .tempdir_in(&root)
        .map_err(|e| ImageError::io("creating a build directory", &root, e))?;
    let path = std::env::join_paths(
        std::iter::once(tools.join("bin")).chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    )
    .map_err(|e| ImageError::io("setting PATH", &tools, std::io::Error::other(e)))?;
    let sdist_dir = work.path().join("sdist");
    let mut download = Command::new(tools.join("bin/python"));
    download
        .env("PATH", &path)
        .args([
            "-m",
            "pip",
            "download",
            "--disable-pip-version-check",
            "--no-input",
        ])
        // Without build isolation the sdist's metadata is read with the maturin installed above,
        // instead of pip building a fresh maturin from source.
        .args(["--no-deps", "--no-binary=iceoryx2", "--no-build-isolation"])
        .arg(format!("iceoryx2=={ICEORYX2_VERSION}"))
        .arg("-d")
        .arg(&sdist_dir);
    process::run("downloading the iceoryx2 sdist", download, HINT, progress).await?;
    let sdist = list_files(&sdist_dir, Some(".tar.gz"))?
        .into_iter()
        .next()
        .ok_or_else(|| ImageError::ToolFailed {
            step: "downloading the iceoryx2 sdist".into(),
            command: "pip download --no-binary=iceoryx2".into(),
            status: "success".into(),
            log: format!("no .tar.gz appeared in {}", sdist_dir.display()),
        })?;
    let src = work.path().join("src");
    std::fs::create_dir_all(&src).map_err(|e| ImageError::io("unpacking the sdist", &src, e))?;
    let mut unpack = Command::new("tar");
    unpack
        .arg("-xzf")
        .arg(sdist_dir.join(&sdist))
        .arg("-C")
        .arg(&src)
        .arg("--strip-components=1");
    process::run(
        "unpacking the iceoryx2 sdist",
        unpack,
        "install tar",
        progress,
    )
    .await?;

    let out = tempfile::Builder::new()
        .prefix(".out-")
        .tempdir_in(&root)
        .map_err(|e| ImageError::io("creating a build directory", &root, e))?;
    let mut build = Command::new(tools.join("bin/maturin"));
    build
        .current_dir(&src)
        .env("PATH", &path)
        .env("CARGO_TARGET_DIR", work.path().join("target"))
        .args(["build", "--release", "--zig", "--compatibility"])
        .arg(format!("manylinux_{major}_{minor}"))
        .arg("--out")
        .arg(out.path());
    process::run(
        &format!("building iceoryx2 {ICEORYX2_VERSION} for glibc {major}.{minor}"),
        build,
        HINT,
        progress,
    )
    .await?;
    berth_cache::publish_dir(out, &dir, has_wheel)?;
    Ok(dir)
}

/// `<cache>/tools/maturin`: a venv with maturin and zig, made once.
async fn ensure_tools(
    cache_dir: &Path,
    host_python: &Path,
    progress: &dyn Progress,
) -> Result<PathBuf> {
    let venv = cache_dir.join("tools/maturin");
    let stamp = venv.join(".berth-tools");
    let wanted = TOOLS.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(venv);
    }
    let mut create = Command::new(host_python);
    create.args(["-m", "venv", "--clear"]).arg(&venv);
    process::run("creating the build tools venv", create, HINT, progress).await?;
    let mut install = Command::new(venv.join("bin/python"));
    install
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "-q",
        ])
        .args(TOOLS);
    process::run("installing maturin and zig", install, HINT, progress).await?;
    std::fs::write(&stamp, wanted)
        .map_err(|e| ImageError::io("writing the tools stamp", &stamp, e))?;
    Ok(venv)
}
