//! Removal of node images that are no longer wanted.

use std::collections::HashMap;

use bollard::query_parameters::ListImagesOptionsBuilder;

use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};
use crate::labels::{self, Kind};

impl ImageBuilder {
    /// Removes this builder's node images (`<namespace>/env:*`, `berth.kind=env`) except those
    /// in `keep`. A `keep` entry matches an image by tag (`berth/env:0123456789abcdef`), by full
    /// environment hash or by image ID. Images still used by a container are left in place
    /// (logged). Returns the removed tags.
    #[tracing::instrument(skip(self, keep))]
    pub async fn prune(&self, keep: &[String]) -> Result<Vec<String>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{}={}", labels::MANAGED_BY, labels::MANAGED_BY_VALUE),
                format!("{}={}", labels::KIND, Kind::Env.as_str()),
            ],
        )]);
        let images = self
            .docker
            .list_images(Some(
                ListImagesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| ImageError::docker("listing node images", e))?;
        let prefix = format!("{}/env:", self.config.namespace);
        let mut removed = Vec::new();
        for image in images {
            let env_hash = image
                .labels
                .get(labels::ENV_HASH)
                .cloned()
                .unwrap_or_default();
            let kept = keep.iter().any(|k| {
                *k == image.id || *k == env_hash || image.repo_tags.iter().any(|t| t == k)
            });
            if kept {
                continue;
            }
            for tag in image.repo_tags.iter().filter(|t| t.starts_with(&prefix)) {
                match self
                    .docker
                    .remove_image(
                        tag,
                        None::<bollard::query_parameters::RemoveImageOptions>,
                        None,
                    )
                    .await
                {
                    Ok(_) => removed.push(tag.clone()),
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 409,
                        message,
                    }) => tracing::warn!(%tag, %message, "node image in use; not pruned"),
                    Err(e) => return Err(ImageError::docker(format!("removing image {tag}"), e)),
                }
            }
        }
        removed.sort();
        Ok(removed)
    }
}
