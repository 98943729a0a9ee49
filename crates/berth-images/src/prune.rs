//! Removal of node images that are no longer wanted.

use bollard::query_parameters::RemoveImageOptions;

use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};
use crate::labels::Kind;

impl ImageBuilder {
    /// Removes this builder's node images (`<namespace>/env:*`, `berth.kind=env`) except those
    /// in `keep`. A `keep` entry matches an image by tag (`berth/env:0123456789abcdef`), by full
    /// environment hash or by image ID. Images still used by a container are left in place
    /// (logged). Returns the removed tags.
    #[tracing::instrument(skip(self, keep))]
    pub async fn prune(&self, keep: &[String]) -> Result<Vec<String>> {
        let prefix = format!("{}/env:", self.config.namespace);
        let mut removed = Vec::new();
        for image in self.list().await? {
            let env_hash = image.env_hash.as_deref().unwrap_or_default();
            let kept = keep
                .iter()
                .any(|k| *k == image.id || *k == env_hash || *k == image.tag);
            if image.kind != Kind::Env.as_str() || !image.tag.starts_with(&prefix) || kept {
                continue;
            }
            if self.remove_unless_in_use(&image.tag).await? {
                removed.push(image.tag);
            }
        }
        removed.sort();
        Ok(removed)
    }

    /// Removes `tag`; `Ok(false)` when a container still uses it (the daemon refuses).
    pub(crate) async fn remove_unless_in_use(&self, tag: &str) -> Result<bool> {
        match self
            .docker
            .remove_image(tag, None::<RemoveImageOptions>, None)
            .await
        {
            Ok(_) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) => {
                tracing::info!(%tag, %message, "image in use; kept");
                Ok(false)
            }
            Err(e) => Err(ImageError::docker(format!("removing image {tag}"), e)),
        }
    }
}
