//! The [`ImageBuilder`] handle and its configuration.

use std::path::PathBuf;
use std::time::Duration;

use bollard::Docker;

use crate::error::{ImageError, Result};

/// How long [`BaseMode::Auto`] waits for a registry to answer a pull probe.
pub const REGISTRY_PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Where the base image's Python comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaseMode {
    /// Debian's Python from an `mmdebstrap` root filesystem, packages from a host wheelhouse;
    /// needs no registry and no network inside the build.
    Offline,
    /// `FROM python:<version>-slim` and pip from PyPI inside the build; needs a registry.
    Registry,
    /// Registry if a pull probe of `python:<version>-slim` answers within
    /// [`REGISTRY_PROBE_TIMEOUT`], else Offline.
    #[default]
    Auto,
}

/// Where the builder keeps its caches and finds its inputs.
#[derive(Debug, Clone)]
pub struct ImageBuilderConfig {
    /// Repository namespace of every image: `<namespace>/python:3.11`, `<namespace>/env:...`,
    /// `<namespace>/rootfs:bookworm`. Default `berth`.
    pub namespace: String,
    /// Host cache for wheelhouses, built wheels, root filesystem tarballs and build locks.
    /// Default: `$BERTH_CACHE_DIR`, else `$XDG_CACHE_HOME/berth`, else `~/.cache/berth`.
    pub cache_dir: PathBuf,
    /// Host Python used for `python -m pip download` / `pip wheel`. Default `python3`.
    pub host_python: PathBuf,
    /// How [`ImageBuilder::ensure_node_image`] makes the standard base. Default [`BaseMode::Auto`].
    pub base_mode: BaseMode,
    /// How nodes will run, for the probe of a custom base: as this `uid:gid`, with these
    /// `host:container` binds, each of which the probe must be able to create files in.
    /// Default: the image's own user, no binds.
    pub run_as: RunAs,
}

/// The user and shared folders a node container runs with.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunAs {
    /// `uid:gid`, or the image's user when `None`.
    pub user: Option<String>,
    /// `host:container` binds the node must be able to write in.
    pub writable_binds: Vec<String>,
}

impl Default for ImageBuilderConfig {
    fn default() -> Self {
        ImageBuilderConfig {
            namespace: "berth".to_string(),
            cache_dir: berth_cache::default_cache_dir(),
            host_python: PathBuf::from("python3"),
            base_mode: BaseMode::Auto,
            run_as: RunAs::default(),
        }
    }
}

/// A built or reused image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The tag, e.g. `berth/python:3.11`.
    pub tag: String,
    /// The image ID (`sha256:...`).
    pub id: String,
    /// `true` if this call built (or imported) the image, `false` if it was reused.
    pub built: bool,
}

/// Builds, reuses, validates and prunes Berth's images through a Docker daemon.
#[derive(Debug, Clone)]
pub struct ImageBuilder {
    pub(crate) docker: Docker,
    pub(crate) config: ImageBuilderConfig,
}

impl ImageBuilder {
    /// Uses an existing client with the default configuration.
    pub fn new(docker: Docker) -> Self {
        Self::with_config(docker, ImageBuilderConfig::default())
    }

    /// Uses an existing client with the given configuration.
    pub fn with_config(docker: Docker, config: ImageBuilderConfig) -> Self {
        ImageBuilder { docker, config }
    }

    /// The Docker client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The configuration.
    pub fn config(&self) -> &ImageBuilderConfig {
        &self.config
    }

    /// `<namespace>/<repo>:<tag>`.
    pub(crate) fn image_name(&self, repo: &str, tag: &str) -> String {
        format!("{}/{repo}:{tag}", self.config.namespace)
    }

    /// The standard base tag for a Python version, e.g. `berth/python:3.11`.
    pub fn base_image_tag(&self, python_version: &str) -> String {
        self.image_name("python", python_version)
    }

    /// The node image tag for an environment hash, e.g. `berth/env:0123456789abcdef`.
    pub fn env_image_tag(&self, env_hash: &str) -> String {
        self.image_name("env", env_hash.get(..16).unwrap_or(env_hash))
    }

    /// The imported root filesystem tag for a Debian suite, e.g. `berth/rootfs:bookworm`.
    pub fn rootfs_image_tag(&self, suite: &str) -> String {
        self.image_name("rootfs", suite)
    }

    /// Inspects an image; `Ok(None)` if it does not exist.
    pub(crate) async fn inspect(
        &self,
        image: &str,
    ) -> Result<Option<bollard::models::ImageInspect>> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(Some(info)),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(ImageError::docker(format!("inspecting image {image}"), e)),
        }
    }

    /// Removes an image that a rebuild replaced, if nothing else uses it (errors are ignored:
    /// an image still referenced by containers or child images stays).
    pub(crate) async fn remove_replaced(&self, old_id: Option<String>, new_id: &str) {
        let Some(old_id) = old_id else { return };
        if old_id == new_id {
            return;
        }
        match self
            .docker
            .remove_image(
                &old_id,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await
        {
            Ok(_) => tracing::debug!(%old_id, "removed replaced image"),
            Err(e) => tracing::debug!(%old_id, error = %e, "kept replaced image"),
        }
    }
}

/// Label value of an inspected image.
pub(crate) fn label<'a>(info: &'a bollard::models::ImageInspect, key: &str) -> Option<&'a str> {
    info.config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}
