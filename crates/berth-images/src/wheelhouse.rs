//! Wheelhouses downloaded on the host (`pip download`) and the runner wheel (`pip wheel`).

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::context::list_files;
use crate::error::{ImageError, Result};
use crate::{Progress, Step, process};

/// The oldest glibc the published iceoryx2 wheel loads on; older images get one built from
/// the sdist (see [`crate::source_wheel`]).
pub const ICEORYX2_WHEEL_GLIBC: (u32, u32) = (2, 34);

/// Platform tags passed to `pip download` for an image whose glibc is `glibc`: every
/// `manylinux_2_N` tag it can load (pip does not widen one tag to older glibc versions), plus
/// the legacy aliases (`manylinux2014` = 2.17, `manylinux2010` = 2.12, `manylinux1` = 2.5).
pub fn pip_platforms(glibc: (u32, u32)) -> Vec<String> {
    let arch = std::env::consts::ARCH;
    let (major, minor) = glibc;
    let mut tags: Vec<String> = (5..=minor)
        .rev()
        .filter(|_| major == 2)
        .map(|n| format!("manylinux_2_{n}_{arch}"))
        .collect();
    for (alias, since) in [
        ("manylinux2014", 17),
        ("manylinux2010", 12),
        ("manylinux1", 5),
    ] {
        if major == 2 && minor >= since {
            tags.push(format!("{alias}_{arch}"));
        }
    }
    tags
}

/// Stamp file recording what a cached wheelhouse was downloaded for.
const STAMP: &str = ".berth-requirements";

/// How to get pip when the host lacks it.
const PIP_HINT: &str = "install Python 3 with pip on the host (`apt-get install python3-pip`) \
                        or set ImageBuilderConfig::host_python";

/// What a wheel download is for: the image's Python and glibc, and where else to find wheels.
pub(crate) struct WheelTarget<'a> {
    /// Python `MAJOR.MINOR`.
    pub(crate) python_version: &'a str,
    /// The image's glibc.
    pub(crate) glibc: (u32, u32),
    /// A folder of wheels built here (e.g. iceoryx2 for an older glibc), searched first.
    pub(crate) find_links: Option<&'a Path>,
}

/// `python -m pip download` of binary wheels for `target` into `dest`.
pub(crate) async fn download_wheels(
    host_python: &Path,
    target: &WheelTarget<'_>,
    requirements: &[String],
    constraints: Option<&Path>,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<()> {
    let python_version = target.python_version;
    let mut cmd = Command::new(host_python);
    cmd.args([
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
    ])
    .args(["--only-binary=:all:", "--python-version", python_version]);
    for platform in pip_platforms(target.glibc) {
        cmd.arg("--platform").arg(platform);
    }
    if let Some(dir) = target.find_links {
        cmd.arg("--find-links").arg(dir);
    }
    if let Some(c) = constraints {
        cmd.arg("-c").arg(c);
    }
    cmd.arg("-d").arg(dest).args(requirements);
    process::run(
        &format!(
            "downloading wheels for Python {python_version} ({}); every package must be \
             available as a manylinux wheel for glibc {}.{} or older",
            requirements.join(" "),
            target.glibc.0,
            target.glibc.1
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
    glibc: (u32, u32),
    requirements: &[String],
    progress: &dyn Progress,
) -> Result<(PathBuf, Vec<String>)> {
    let root = cache_dir.join("wheelhouse");
    let dir = root.join(format!("py{python_version}"));
    let stamp = format!(
        "{}\n{}\n",
        requirements.join("\n"),
        pip_platforms(glibc).join("\n")
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
    // The published iceoryx2 wheel needs a newer glibc than this image has: build one.
    let built = if glibc < ICEORYX2_WHEEL_GLIBC {
        Some(
            crate::source_wheel::ensure_iceoryx2_wheel(cache_dir, host_python, glibc, progress)
                .await?,
        )
    } else {
        None
    };
    progress.step(
        Step::Wheels,
        &format!("Python {python_version}: {}", requirements.join(" ")),
    );
    let target = WheelTarget {
        python_version,
        glibc,
        find_links: built.as_deref(),
    };
    download_wheels(
        host_python,
        &target,
        requirements,
        None,
        tmp.path(),
        progress,
    )
    .await?;
    std::fs::write(tmp.path().join(STAMP), &stamp)
        .map_err(|e| ImageError::io("writing the wheelhouse stamp", tmp.path(), e))?;
    berth_cache::publish_dir(tmp, &dir, |d| {
        std::fs::read_to_string(d.join(STAMP)).ok().as_deref() == Some(stamp.as_str())
    })?;
    let wheels = list_files(&dir, Some(".whl"))?;
    Ok((dir, wheels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_cover_every_glibc_up_to_the_image() {
        let arch = std::env::consts::ARCH;
        let tags = pip_platforms((2, 36));
        for minor in [17, 27, 28, 34, 36] {
            assert!(
                tags.contains(&format!("manylinux_2_{minor}_{arch}")),
                "{minor}"
            );
        }
        assert!(tags.contains(&format!("manylinux2014_{arch}")));
        assert!(!tags.contains(&format!("manylinux_2_37_{arch}")));
        let old = pip_platforms((2, 31));
        assert!(old.contains(&format!("manylinux_2_31_{arch}")));
        assert!(!old.contains(&format!("manylinux_2_34_{arch}")));
    }
}
