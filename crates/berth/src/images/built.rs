//! The standard image provider: Berth's own images, built through Docker when missing.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use berth_images::{ImageBuilder, ImageBuilderConfig, NodeEnvironment, Progress, RunAs};
use berth_manifest::{DockerSpec, Manifest};
use tokio::sync::Mutex;
use tracing::Instrument;

use super::ImageProvider;
use crate::SessionError;

/// The standard provider: `berth/python:{version}` for nodes without extra packages (built if
/// missing), a validated custom `base_image`, or a `berth/env:{hash}` image built once per
/// environment definition and reused until the definition changes.
pub struct BuiltImages {
    builder: ImageBuilder,
    resolved: Mutex<HashMap<String, String>>,
    progress: Option<Arc<dyn Progress + Send>>,
}

impl BuiltImages {
    /// Connects to the Docker daemon with the default image configuration; custom bases are
    /// probed as the Docker backend runs nodes (the host's uid:gid, its shared folders).
    pub async fn connect() -> Result<Self, SessionError> {
        Self::connect_with(ImageBuilderConfig {
            run_as: RunAs {
                user: Some(berth_docker::host_user()),
                writable_binds: transport_binds(),
            },
            ..ImageBuilderConfig::default()
        })
        .await
    }

    /// Connects to the Docker daemon with the given image configuration.
    pub async fn connect_with(config: ImageBuilderConfig) -> Result<Self, SessionError> {
        let builder = ImageBuilder::with_config(berth_docker::connect_client().await?, config);
        Ok(Self {
            builder,
            resolved: Mutex::new(HashMap::new()),
            progress: None,
        })
    }

    /// Reports build steps to `progress` (e.g. a terminal display) instead of the log.
    pub fn with_progress(mut self, progress: Arc<dyn Progress + Send>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Builds or reuses the image of every container node of `manifest`; returns
    /// `(node id, image tag)` in manifest order.
    pub async fn ensure_all(
        &self,
        manifest: &Manifest,
    ) -> Result<Vec<(String, String)>, SessionError> {
        let mut images = Vec::new();
        for node in &manifest.nodes {
            if let Some(docker) = &node.docker {
                images.push((node.id.clone(), self.image_for(&node.id, docker).await?));
            }
        }
        Ok(images)
    }
}

#[async_trait]
impl ImageProvider for BuiltImages {
    async fn image_for(&self, node_id: &str, docker: &DockerSpec) -> Result<String, SessionError> {
        let hash = docker.environment_hash();
        let mut resolved = self.resolved.lock().await;
        if let Some(image) = resolved.get(&hash) {
            self.builder.record_use(image);
            return Ok(image.clone());
        }
        let span = tracing::info_span!("image", node_id, env_hash = %&hash[..16]);
        let image = self
            .resolve(node_id, docker, &hash)
            .instrument(span)
            .await?;
        self.builder.record_use(&image);
        resolved.insert(hash, image.clone());
        Ok(image)
    }
}

impl BuiltImages {
    async fn resolve(
        &self,
        node_id: &str,
        docker: &DockerSpec,
        hash: &str,
    ) -> Result<String, SessionError> {
        let log = |line: &str| tracing::info!(node_id, "{line}");
        let progress: &dyn Progress = match &self.progress {
            Some(p) => p.as_ref(),
            None => &log,
        };
        let extras = !docker.python_packages.is_empty() || !docker.system_dependencies.is_empty();
        let image = match (&docker.base_image, extras) {
            (None, false) => {
                let base = self.builder.config().base_mode;
                self.builder
                    .ensure_base_image(&docker.python_version, base, progress)
                    .await
                    .map_err(image_error)?
                    .tag
            }
            (Some(custom), false) => {
                self.builder
                    .validate_custom_base(custom, &docker.python_version)
                    .await
                    .map_err(|source| SessionError::NodeImage {
                        node_id: node_id.to_owned(),
                        what: format!("base_image `{custom}` cannot run Berth nodes"),
                        source: Box::new(source),
                    })?;
                custom.clone()
            }
            (_, true) => {
                let env = NodeEnvironment {
                    python_version: docker.python_version.clone(),
                    base_image: docker.base_image.clone(),
                    system_dependencies: docker.system_dependencies.clone(),
                    python_packages: docker.python_packages.clone(),
                    hash: hash.to_owned(),
                };
                self.builder
                    .ensure_node_image(&env, progress)
                    .await
                    .map_err(|source| SessionError::NodeImage {
                        node_id: node_id.to_owned(),
                        what: "cannot make its image".into(),
                        source: Box::new(source),
                    })?
                    .tag
            }
        };
        Ok(image)
    }
}

/// `path:path` binds of the folders the default transport shares with containers, so a custom
/// base is probed with what its nodes will get.
fn transport_binds() -> Vec<String> {
    crate::recommended::transport()
        .map(|t| t.shared_paths())
        .unwrap_or_default()
        .iter()
        .map(|p| format!("{0}:{0}", p.display()))
        .collect()
}

fn image_error(e: berth_images::ImageError) -> SessionError {
    SessionError::Images(Box::new(e))
}

/// The Docker-built provider, shared by every session of the process.
pub(crate) async fn standard() -> Result<Arc<dyn ImageProvider>, SessionError> {
    static PROVIDER: tokio::sync::OnceCell<Arc<BuiltImages>> = tokio::sync::OnceCell::const_new();
    let provider = PROVIDER
        .get_or_try_init(|| async { BuiltImages::connect().await.map(Arc::new) })
        .await?;
    Ok(Arc::clone(provider) as Arc<dyn ImageProvider>)
}
