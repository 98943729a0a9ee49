//! The standard Python base image `berth/python:<version>`.

use std::collections::HashMap;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use crate::builder::{BaseMode, ImageBuilder, ImageRef, REGISTRY_PROBE_TIMEOUT, label};
use crate::context::BuildContext;
use crate::error::{ImageError, Result};
use crate::hashing::sha256_parts;
use crate::labels::{self, Kind};
use crate::rootfs::debian_suite_for;
use crate::wheelhouse::ensure_base_wheelhouse;
use crate::{ICEORYX2_VERSION, Progress, Step, check_python_version};

/// Python requirements of every base image.
fn base_requirements() -> Vec<String> {
    vec![format!("iceoryx2=={ICEORYX2_VERSION}"), "numpy".to_string()]
}

/// Dockerfile of an offline base, without its final `LABEL` (see [`with_labels`]): venv from
/// the imported root filesystem, wheels from the context. Few instructions on purpose: the
/// classic builder commits a layer per instruction, which is slow on some storage drivers.
fn offline_dockerfile(rootfs_image: &str) -> String {
    install_dockerfile(
        &format!("FROM {rootfs_image}\nCOPY wheels/ /wheels/"),
        "--no-index --find-links /wheels ",
    )
}

/// Dockerfile of a registry base, without its final `LABEL`: `python:<v>-slim`, packages from
/// PyPI.
fn registry_dockerfile(python_version: &str) -> String {
    install_dockerfile(&format!("FROM python:{python_version}-slim"), "")
}

/// The shared body of both base Dockerfiles: the runner's dependencies in a venv. The runner
/// itself is not in the image: each container gets the host's runner mounted read-only.
fn install_dockerfile(from: &str, source: &str) -> String {
    let reqs = base_requirements().join(" ");
    format!(
        r#"{from}
RUN python3 -m venv /opt/berth/venv \
 && /opt/berth/venv/bin/pip install {source}--no-cache-dir --disable-pip-version-check {reqs} \
 && /opt/berth/venv/bin/python -c "import iceoryx2, numpy" \
 && rm -rf /wheels \
 && chmod -R a+rX /opt/berth \
 && mkdir -p /app && chmod 1777 /app
ENV VIRTUAL_ENV=/opt/berth/venv \
    PATH=/opt/berth/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /app
"#
    )
}

/// Appends the base image's single `LABEL` instruction, which carries the definition hash of
/// everything before it and, where known, the image's glibc.
fn with_labels(
    dockerfile: &str,
    python_version: &str,
    definition: &str,
    glibc: Option<(u32, u32)>,
) -> String {
    let mut l = labels::standard(Kind::Base);
    if let Some((major, minor)) = glibc {
        l.insert(labels::GLIBC.to_string(), format!("{major}.{minor}"));
    }
    l.insert(labels::PYTHON.to_string(), python_version.to_string());
    l.insert(labels::ICEORYX2.to_string(), ICEORYX2_VERSION.to_string());
    l.insert(labels::DEFINITION_HASH.to_string(), definition.to_string());
    format!("{dockerfile}{}", labels::dockerfile_instruction(&l))
}

impl ImageBuilder {
    /// Makes sure the standard base `<namespace>/python:<python_version>` exists and matches
    /// its current definition; builds it if missing or outdated. See the crate docs for what
    /// it contains and how each [`BaseMode`] makes it.
    #[tracing::instrument(skip(self, progress))]
    pub async fn ensure_base_image(
        &self,
        python_version: &str,
        mode: BaseMode,
        progress: &dyn Progress,
    ) -> Result<ImageRef> {
        check_python_version(python_version)?;
        let mode = match mode {
            BaseMode::Auto => {
                let probe = format!("python:{python_version}-slim");
                if self.registry_reachable(&probe).await {
                    progress.line(&format!(
                        "registry reachable ({probe}): using BaseMode::Registry"
                    ));
                    BaseMode::Registry
                } else {
                    tracing::debug!(%probe, "no registry answered; building offline");
                    BaseMode::Offline
                }
            }
            m => m,
        };
        let _lock = self
            .build_lock(&self.base_image_tag(python_version), progress)
            .await?;
        match mode {
            BaseMode::Registry => self.ensure_registry_base(python_version, progress).await,
            _ => self.ensure_offline_base(python_version, progress).await,
        }
    }

    /// Whether pulling `image` starts within [`REGISTRY_PROBE_TIMEOUT`] (an image already
    /// present locally counts as reachable).
    pub async fn registry_reachable(&self, image: &str) -> bool {
        if matches!(self.inspect(image).await, Ok(Some(_))) {
            return true;
        }
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        matches!(
            tokio::time::timeout(REGISTRY_PROBE_TIMEOUT, stream.next()).await,
            Ok(Some(Ok(_)))
        )
    }

    /// Offline base: root filesystem + host wheelhouse.
    async fn ensure_offline_base(
        &self,
        python_version: &str,
        progress: &dyn Progress,
    ) -> Result<ImageRef> {
        let suite = debian_suite_for(python_version)?;
        let tag = self.base_image_tag(python_version);
        let cfg = &self.config;
        let (wheel_dir, wheels) = ensure_base_wheelhouse(
            &cfg.cache_dir,
            &cfg.host_python,
            python_version,
            suite.glibc,
            &base_requirements(),
            progress,
        )
        .await?;
        let (rootfs, rootfs_definition) = self.ensure_rootfs_image(suite.name, progress).await?;
        let dockerfile = offline_dockerfile(&rootfs.tag);
        let definition = sha256_parts(
            [python_version, dockerfile.as_str(), &rootfs_definition]
                .into_iter()
                .chain(wheels.iter().map(String::as_str)),
        );
        let existing = self.inspect(&tag).await?;
        if let Some(info) = &existing
            && label(info, labels::DEFINITION_HASH) == Some(definition.as_str())
        {
            return Ok(ImageRef {
                tag,
                id: info.id.clone().unwrap_or_default(),
                built: false,
            });
        }
        let mut ctx = BuildContext::new();
        let dockerfile = with_labels(&dockerfile, python_version, &definition, Some(suite.glibc));
        ctx.add_bytes("Dockerfile", dockerfile.as_bytes())?;
        ctx.add_dir_files("wheels", &wheel_dir)?;
        self.build_base(&tag, ctx, existing.and_then(|i| i.id), progress)
            .await
    }

    /// Registry base: `python:<v>-slim` pulled first (for a clear error), PyPI in the build.
    async fn ensure_registry_base(
        &self,
        python_version: &str,
        progress: &dyn Progress,
    ) -> Result<ImageRef> {
        let tag = self.base_image_tag(python_version);
        let dockerfile = registry_dockerfile(python_version);
        let definition = sha256_parts([python_version, dockerfile.as_str()]);
        let existing = self.inspect(&tag).await?;
        if let Some(info) = &existing
            && label(info, labels::DEFINITION_HASH) == Some(definition.as_str())
        {
            return Ok(ImageRef {
                tag,
                id: info.id.clone().unwrap_or_default(),
                built: false,
            });
        }
        self.pull(&format!("python:{python_version}-slim"), progress)
            .await?;
        let mut ctx = BuildContext::new();
        let dockerfile = with_labels(&dockerfile, python_version, &definition, None);
        ctx.add_bytes("Dockerfile", dockerfile.as_bytes())?;
        self.build_base(&tag, ctx, existing.and_then(|i| i.id), progress)
            .await
    }

    /// Builds a base image from its context.
    #[tracing::instrument(skip(self, ctx, old_id, progress))]
    async fn build_base(
        &self,
        tag: &str,
        ctx: BuildContext,
        old_id: Option<String>,
        progress: &dyn Progress,
    ) -> Result<ImageRef> {
        progress.step(Step::Build, tag);
        let id = self
            .build_from_context(tag, ctx.finish()?, progress)
            .await?;
        self.remove_replaced(old_id, &id).await;
        Ok(ImageRef {
            tag: tag.to_string(),
            id,
            built: true,
        })
    }

    /// Pulls an image, failing with [`ImageError::PullFailed`].
    async fn pull(&self, image: &str, progress: &dyn Progress) -> Result<()> {
        progress.step(Step::Pull, image);
        let (repo, tag) = image.rsplit_once(':').unwrap_or((image, "latest"));
        let options = CreateImageOptionsBuilder::default()
            .from_image(repo)
            .tag(tag)
            .build();
        let mut stream = self.docker.create_image(Some(options), None, None);
        let mut last_status = HashMap::new();
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| ImageError::PullFailed {
                image: image.to_string(),
                message: e.to_string(),
            })?;
            if let Some(status) = info.status {
                // Layer progress repeats per layer; report each status change once.
                let key = info.id.unwrap_or_default();
                if last_status.get(&key) != Some(&status) {
                    progress.line(&format!("{key} {status}"));
                    last_status.insert(key, status);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_pin_the_host_iceoryx2_version() {
        let offline = offline_dockerfile("berth/rootfs:bookworm");
        assert!(offline.contains(&format!("iceoryx2=={ICEORYX2_VERSION}")));
        assert!(offline.contains("--no-index"));
        assert!(offline.contains("HOME=/tmp"));
        let labelled = with_labels(&offline, "3.11", "abc", Some((2, 36)));
        assert!(labelled.contains("berth.glibc=\"2.36\""));
        assert!(labelled.contains("berth.python=\"3.11\""));
        assert!(labelled.contains("berth.definition-hash=\"abc\""));
        assert_eq!(labelled.matches("LABEL").count(), 1);
        let registry = registry_dockerfile("3.10");
        assert!(registry.starts_with("FROM python:3.10-slim"));
        assert!(!registry.contains("--no-index"));
    }
}
