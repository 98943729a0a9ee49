//! Debian root filesystems made with `mmdebstrap` and imported into Docker (`docker import`).

use std::path::PathBuf;

use tokio::process::Command;

use crate::builder::{ImageBuilder, ImageRef, label};
use crate::error::{ImageError, Result};
use crate::hashing::sha256_parts;
use crate::labels::{self, Kind};
use crate::{Progress, Step, check_python_version, process};
use berth_manifest::PythonSource;

/// Packages every imported root filesystem gets (besides the `apt` variant's essentials).
pub const ROOTFS_PACKAGES: &[&str] = &["python3", "python3-venv", "ca-certificates"];

/// A Debian suite whose system Python a standard image is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DebianSuite {
    /// The suite, e.g. `bookworm`.
    pub name: &'static str,
    /// Its glibc `(major, minor)`.
    pub glibc: (u32, u32),
}

/// The Debian suite whose system Python is `python_version`, as `python-versions.txt` states
/// it; [`ImageError::NoDebianSuite`] for versions only a registry has.
pub fn debian_suite_for(python_version: &str) -> Result<DebianSuite> {
    check_python_version(python_version)?;
    match berth_manifest::python_version(python_version).map(|v| v.source) {
        Some(PythonSource::Debian { suite, glibc }) => Ok(DebianSuite { name: suite, glibc }),
        _ => Err(ImageError::NoDebianSuite {
            version: python_version.to_string(),
            offline: offline_versions(),
        }),
    }
}

/// The versions a standard image can be made of without a registry: `3.9, 3.11, 3.13`.
fn offline_versions() -> String {
    berth_manifest::python_versions()
        .iter()
        .filter(|v| v.offline())
        .map(|v| v.version)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Command-line arguments of `mmdebstrap` before the output path.
fn mmdebstrap_args(suite: &str) -> Vec<String> {
    vec![
        "--variant=apt".to_string(),
        "--mode=auto".to_string(),
        format!("--include={}", ROOTFS_PACKAGES.join(",")),
        suite.to_string(),
    ]
}

impl ImageBuilder {
    /// Makes sure `<namespace>/rootfs:<suite>` exists: reuses it if its definition matches,
    /// else imports the cached tarball, making it with `mmdebstrap` first if needed.
    #[tracing::instrument(skip(self, progress), fields(image))]
    pub(crate) async fn ensure_rootfs_image(
        &self,
        suite: &str,
        progress: &dyn Progress,
    ) -> Result<(ImageRef, String)> {
        let image = self.rootfs_image_tag(suite);
        tracing::Span::current().record("image", image.as_str());
        let _lock = self.build_lock(&image, progress).await?;
        let args = mmdebstrap_args(suite);
        let definition =
            sha256_parts(std::iter::once("mmdebstrap").chain(args.iter().map(String::as_str)));
        let existing = self.inspect(&image).await?;
        if let Some(info) = &existing
            && label(info, labels::DEFINITION_HASH) == Some(definition.as_str())
        {
            let id = info.id.clone().unwrap_or_default();
            return Ok((
                ImageRef {
                    tag: image,
                    id,
                    built: false,
                },
                definition,
            ));
        }

        let tarball = self.rootfs_tarball(suite, &definition);
        if !tarball.is_file() {
            self.run_mmdebstrap(suite, &args, &tarball, progress)
                .await?;
        } else {
            progress.line(&format!(
                "reusing cached root filesystem {}",
                tarball.display()
            ));
        }

        let mut changes = vec![
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "CMD [\"/bin/bash\"]".to_string(),
        ];
        let mut all_labels = labels::standard(Kind::Rootfs);
        all_labels.insert(labels::DEFINITION_HASH.to_string(), definition.clone());
        let mut sorted: Vec<_> = all_labels.into_iter().collect();
        sorted.sort();
        changes.extend(sorted.into_iter().map(|(k, v)| format!("LABEL {k}={v}")));
        progress.step(Step::Import, &format!("{} as {image}", tarball.display()));
        let id = self
            .import_rootfs(&tarball, &image, changes, progress)
            .await?;
        self.remove_replaced(existing.and_then(|i| i.id), &id).await;
        Ok((
            ImageRef {
                tag: image,
                id,
                built: true,
            },
            definition,
        ))
    }

    /// Cached tarball path for a suite and definition.
    fn rootfs_tarball(&self, suite: &str, definition: &str) -> PathBuf {
        self.config
            .cache_dir
            .join("rootfs")
            .join(format!("{suite}-{}.tar", &definition[..16]))
    }

    /// Runs `mmdebstrap` into a temporary file next to `tarball`, then renames it into place.
    #[tracing::instrument(skip(self, args, progress))]
    async fn run_mmdebstrap(
        &self,
        suite: &str,
        args: &[String],
        tarball: &std::path::Path,
        progress: &dyn Progress,
    ) -> Result<()> {
        let dir = tarball.parent().expect("tarball path has a parent");
        std::fs::create_dir_all(dir)
            .map_err(|e| ImageError::io("creating the root filesystem cache", dir, e))?;
        let partial = dir.join(format!("partial-{suite}-{}.tar", std::process::id()));
        progress.step(
            Step::RootFilesystem,
            &format!("Debian {suite} with mmdebstrap (about 1-2 minutes)"),
        );
        let mut cmd = Command::new("mmdebstrap");
        cmd.args(args).arg(&partial);
        let result = process::run(
            &format!("making the Debian {suite} root filesystem"),
            cmd,
            "install it with `apt-get install mmdebstrap` (offline base images are made from a \
             Debian root filesystem); or use BaseMode::Registry on a machine with a registry",
            progress,
        )
        .await;
        if let Err(e) = result {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        match std::fs::rename(&partial, tarball) {
            Ok(()) => Ok(()),
            // Another process stored the same tarball first.
            Err(_) if tarball.is_file() => {
                let _ = std::fs::remove_file(&partial);
                Ok(())
            }
            Err(e) => Err(ImageError::io(
                "storing the root filesystem tarball",
                tarball,
                e,
            )),
        }?;
        remove_outdated_tarballs(dir, suite, tarball);
        Ok(())
    }
}

/// Deletes cached tarballs of `suite` other than `current` (older definitions).
fn remove_outdated_tarballs(dir: &std::path::Path, suite: &str, current: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{suite}-");
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path != current && name.starts_with(&prefix) && name.ends_with(".tar") {
            tracing::debug!(path = %path.display(), "removing outdated root filesystem tarball");
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_follow_debian_python_versions() {
        let suite = |v| debian_suite_for(v).unwrap();
        assert_eq!(
            suite("3.11"),
            DebianSuite {
                name: "bookworm",
                glibc: (2, 36)
            }
        );
        assert_eq!(suite("3.13").name, "trixie");
        assert_eq!(suite("3.9").name, "bullseye");
        let e = debian_suite_for("3.10").unwrap_err().to_string();
        assert!(
            e.contains("no Debian suite") && e.contains("BaseMode::Registry"),
            "{e}"
        );
        assert!(
            e.contains("python:3.10-slim") && e.contains("base_image"),
            "{e}"
        );
        assert!(e.contains("3.9, 3.11, 3.13"), "{e}");
        assert!(matches!(
            debian_suite_for("three"),
            Err(ImageError::InvalidPythonVersion { .. })
        ));
    }
}
