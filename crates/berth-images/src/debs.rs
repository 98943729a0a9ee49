//! System packages for node images: `.deb` files resolved and downloaded on the host against
//! the base image's own apt sources and dpkg status, installed offline in the build.

use std::path::Path;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::TryStreamExt;
use tokio::process::Command;

use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};
use crate::labels::{self, Kind};
use crate::{Progress, Step, process};

/// Paths copied out of the base image: its apt configuration and its installed-package list.
const IMAGE_PATHS: &[&str] = &["/etc/apt", "/var/lib/dpkg/status", "/usr/share/keyrings"];

/// Checks a Debian package name (optionally `name=version` or `name:arch`).
pub(crate) fn check_deb_name(name: &str) -> Result<()> {
    let bad = |reason| {
        Err(ImageError::InvalidPackage {
            kind: "system",
            name: name.to_string(),
            reason,
        })
    };
    let base = name.split(['=', ':']).next().unwrap_or("");
    if name.starts_with('-') {
        return bad("it would be read as an apt-get option");
    }
    if base.len() < 2
        || !base.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        || !base
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
    {
        return bad("Debian package names are lowercase letters, digits and + - .");
    }
    if name.chars().any(char::is_whitespace) {
        return bad("it contains whitespace");
    }
    Ok(())
}

impl ImageBuilder {
    /// Downloads into `debs_dir` the `.deb` files that installing `packages` on `base_image`
    /// needs (dependencies the base lacks included). Returns their file names.
    #[tracing::instrument(skip(self, packages, debs_dir, progress))]
    pub(crate) async fn download_debs(
        &self,
        base_image: &str,
        architecture: &str,
        packages: &[String],
        debs_dir: &Path,
        progress: &dyn Progress,
    ) -> Result<Vec<String>> {
        for p in packages {
            check_deb_name(p)?;
        }
        let work = tempfile::Builder::new()
            .prefix("berth-apt-")
            .tempdir()
            .map_err(|e| {
                ImageError::io("creating a temporary directory", std::env::temp_dir(), e)
            })?;
        let root = work.path().join("root");
        self.copy_out_of_image(base_image, IMAGE_PATHS, &root)
            .await?;
        let etc = root.join("etc/apt");
        let status = root.join("var/lib/dpkg/status");
        if !etc.is_dir() || !status.is_file() {
            return Err(ImageError::NotDebianBased {
                image: base_image.to_string(),
            });
        }
        // Keys referenced by absolute paths in the image's sources must be read from the copy.
        let keyrings = root.join("usr/share/keyrings");
        if keyrings.is_dir() {
            rewrite_keyring_paths(&etc, &keyrings)?;
        }
        let state = work.path().join("state");
        let cache = work.path().join("cache");
        for d in [
            state.join("lists/partial"),
            cache.clone(),
            debs_dir.join("partial"),
        ] {
            std::fs::create_dir_all(&d)
                .map_err(|e| ImageError::io("creating apt directories", &d, e))?;
        }
        let options: Vec<String> = [
            ("Dir::State", state.display().to_string()),
            ("Dir::State::status", status.display().to_string()),
            ("Dir::Cache", cache.display().to_string()),
            ("Dir::Cache::archives", debs_dir.display().to_string()),
            (
                "Dir::Etc::SourceList",
                etc.join("sources.list").display().to_string(),
            ),
            (
                "Dir::Etc::SourceParts",
                etc.join("sources.list.d").display().to_string(),
            ),
            (
                "Dir::Etc::Trusted",
                etc.join("trusted.gpg").display().to_string(),
            ),
            (
                "Dir::Etc::TrustedParts",
                etc.join("trusted.gpg.d").display().to_string(),
            ),
            (
                "Dir::Etc::Preferences",
                etc.join("preferences").display().to_string(),
            ),
            (
                "Dir::Etc::PreferencesParts",
                etc.join("preferences.d").display().to_string(),
            ),
            ("Debug::NoLocking", "true".to_string()),
            ("APT::Architecture", architecture.to_string()),
            ("APT::Architectures::", architecture.to_string()),
            ("APT::Install-Recommends", "false".to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| ["-o".to_string(), format!("{k}={v}")])
        .collect();
        let hint = "system_dependencies are downloaded with the host's apt-get: run on a \
                    Debian/Ubuntu host or remove system_dependencies";
        progress.step(
            Step::SystemPackages,
            &format!("{} for {base_image}", packages.join(" ")),
        );
        let mut update = Command::new("apt-get");
        update.arg("-q").args(&options).arg("update");
        process::run(
            &format!("apt-get update with the apt sources of {base_image}"),
            update,
            hint,
            progress,
        )
        .await?;
        let mut install = Command::new("apt-get");
        install
            .args(["-q", "-y"])
            .args(&options)
            .args(["install", "--download-only"])
            .args(packages);
        process::run(
            &format!(
                "downloading system packages {} for {base_image}",
                packages.join(" ")
            ),
            install,
            hint,
            progress,
        )
        .await?;
        let _ = std::fs::remove_dir(debs_dir.join("partial"));
        let _ = std::fs::remove_file(debs_dir.join("lock"));
        crate::context::list_files(debs_dir, Some(".deb"))
    }

    /// Copies paths out of an image into `dest` (missing paths are skipped) using a created,
    /// never started, container.
    async fn copy_out_of_image(&self, image: &str, paths: &[&str], dest: &Path) -> Result<()> {
        let mut container_labels = labels::standard(Kind::Probe);
        container_labels.insert(labels::BASE_IMAGE.to_string(), image.to_string());
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            entrypoint: Some(vec!["/bin/true".to_string()]),
            cmd: Some(Vec::new()),
            labels: Some(container_labels),
            network_disabled: Some(true),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(CreateContainerOptionsBuilder::default().build()), body)
            .await
            .map_err(|e| ImageError::docker(format!("creating a container from {image}"), e))?;
        let result = async {
            for path in paths {
                let parent = Path::new(path).parent().unwrap_or(Path::new("/"));
                let target = dest.join(parent.strip_prefix("/").unwrap_or(parent));
                std::fs::create_dir_all(&target)
                    .map_err(|e| ImageError::io("creating a directory", &target, e))?;
                let options = DownloadFromContainerOptionsBuilder::default()
                    .path(path)
                    .build();
                let chunks: std::result::Result<Vec<bytes::Bytes>, _> = self
                    .docker
                    .download_from_container(&created.id, Some(options))
                    .try_collect()
                    .await;
                let chunks = match chunks {
                    Ok(c) => c,
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => continue,
                    Err(e) => {
                        return Err(ImageError::docker(
                            format!("copying {path} out of {image}"),
                            e,
                        ));
                    }
                };
                let data = chunks.concat();
                let mut archive = tar::Archive::new(data.as_slice());
                archive.set_preserve_permissions(false);
                archive.set_overwrite(true);
                archive.unpack(&target).map_err(|e| {
                    ImageError::io(format!("unpacking {path} of {image}"), &target, e)
                })?;
            }
            Ok(())
        }
        .await;
        let _ = self
            .docker
            .remove_container(
                &created.id,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        result
    }
}

/// Points `Signed-By`/`signed-by=` references to `/usr/share/keyrings/` in the copied source
/// lists at the copied keyrings.
fn rewrite_keyring_paths(etc: &Path, keyrings: &Path) -> Result<()> {
    let mut files = vec![etc.join("sources.list")];
    if let Ok(entries) = std::fs::read_dir(etc.join("sources.list.d")) {
        files.extend(entries.filter_map(|e| e.ok()).map(|e| e.path()));
    }
    let replacement = format!("{}/", keyrings.display());
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if text.contains("/usr/share/keyrings/") {
            std::fs::write(&file, text.replace("/usr/share/keyrings/", &replacement))
                .map_err(|e| ImageError::io("rewriting an apt source list", &file, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb_names_are_checked() {
        for ok in ["libsndfile1", "curl", "g++", "libc6=2.36-9", "libfoo:amd64"] {
            check_deb_name(ok).unwrap();
        }
        for bad in ["-o", "--allow-unauthenticated", "Foo", "a b", "x"] {
            assert!(check_deb_name(bad).is_err(), "{bad}");
        }
    }
}
