//! Which image a container node runs in: an [`ImageProvider`] resolves it; the standard one
//! ([`BuiltImages`], with the `docker` feature) builds Berth's images when missing.

#[cfg(feature = "docker")]
mod built;

use std::sync::Arc;

use async_trait::async_trait;
use berth_manifest::DockerSpec;

#[cfg(feature = "docker")]
pub use built::BuiltImages;

use crate::SessionError;

/// Resolves (and if needed builds) the image of a container node.
#[async_trait]
pub trait ImageProvider: Send + Sync {
    /// The image to run node `node_id` with environment `docker` in.
    async fn image_for(&self, node_id: &str, docker: &DockerSpec) -> Result<String, SessionError>;
}

/// The default image provider, shared by every session of the process.
pub(crate) async fn standard() -> Result<Arc<dyn ImageProvider>, SessionError> {
    #[cfg(feature = "docker")]
    {
        built::standard().await
    }
    #[cfg(not(feature = "docker"))]
    {
        Err(SessionError::NotBuilt {
            part: "building container images",
            feature: "docker",
        })
    }
}
