//! Which image a container node runs in.

use std::sync::Arc;

use async_trait::async_trait;
use berth_manifest::DockerSpec;

use crate::SessionError;

/// Resolves (and if needed builds) the image of a container node.
#[async_trait]
pub trait ImageProvider: Send + Sync {
    /// The image to run node `node_id` with environment `docker` in.
    async fn image_for(&self, node_id: &str, docker: &DockerSpec) -> Result<String, SessionError>;
}

/// Uses the node's `base_image`, or the standard `berth/python:{python_version}` image; a node
/// that asks for extra packages needs a provider that builds images.
struct StandardImages;

#[async_trait]
impl ImageProvider for StandardImages {
    async fn image_for(&self, node_id: &str, docker: &DockerSpec) -> Result<String, SessionError> {
        if !docker.python_packages.is_empty() || !docker.system_dependencies.is_empty() {
            return Err(SessionError::Setup(format!(
                "node `{node_id}` needs packages installed into its image; use an image provider that builds images"
            )));
        }
        Ok(docker
            .base_image
            .clone()
            .unwrap_or_else(|| format!("berth/python:{}", docker.python_version)))
    }
}

/// The default image provider.
pub(crate) fn standard() -> Result<Arc<dyn ImageProvider>, SessionError> {
    Ok(Arc::new(StandardImages))
}
