//! Berth's images as a user sees them (`berth images`), when each was last used, and pruning
//! what has not been used for a while (`berth images prune`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::query_parameters::ListImagesOptionsBuilder;

use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};
use crate::labels::{self, Kind};

/// One of Berth's images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// Its tag, e.g. `berth/env:0123456789abcdef`.
    pub tag: String,
    /// Its image ID.
    pub id: String,
    /// `rootfs`, `base` or `env`.
    pub kind: String,
    /// The full environment hash of a node image.
    pub env_hash: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// When it was built.
    pub created: SystemTime,
    /// When a session last asked for it, if it has been recorded.
    pub last_used: Option<SystemTime>,
}

/// What `prune_unused` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneOptions {
    /// Keep images used (or, never used, built) within this long.
    pub unused_for: Duration,
    /// Also remove base and root filesystem images, not only node images.
    pub all: bool,
}

impl ImageBuilder {
    fn usage_file(&self, tag: &str) -> PathBuf {
        self.config
            .cache_dir
            .join("usage")
            .join(berth_cache::tag_file_name(tag))
    }

    /// Records that a session uses `tag` now (shown by `berth images`, honoured by pruning).
    pub fn record_use(&self, tag: &str) {
        let file = self.usage_file(tag);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let result = std::fs::create_dir_all(file.parent().expect("usage files have a folder"))
            .and_then(|()| std::fs::write(&file, now.to_string()));
        if let Err(e) = result {
            tracing::debug!(%tag, error = %e, "could not record image use");
        }
    }

    /// When `tag` was last recorded as used.
    pub fn last_used(&self, tag: &str) -> Option<SystemTime> {
        let secs = std::fs::read_to_string(self.usage_file(tag)).ok()?;
        Some(UNIX_EPOCH + Duration::from_secs(secs.trim().parse().ok()?))
    }

    /// Every image of this builder's namespace, newest first.
    pub async fn list(&self) -> Result<Vec<ImageSummary>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!(
                "{}={}",
                labels::MANAGED_BY,
                labels::MANAGED_BY_VALUE
            )],
        )]);
        let images = self
            .docker
            .list_images(Some(
                ListImagesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| ImageError::docker("listing Berth's images", e))?;
        let prefix = format!("{}/", self.config.namespace);
        let mut out = Vec::new();
        for image in images {
            for tag in image.repo_tags.iter().filter(|t| t.starts_with(&prefix)) {
                out.push(ImageSummary {
                    tag: tag.clone(),
                    id: image.id.clone(),
                    kind: image.labels.get(labels::KIND).cloned().unwrap_or_default(),
                    env_hash: image.labels.get(labels::ENV_HASH).cloned(),
                    size: u64::try_from(image.size).unwrap_or_default(),
                    created: UNIX_EPOCH
                        + Duration::from_secs(u64::try_from(image.created).unwrap_or_default()),
                    last_used: self.last_used(tag),
                });
            }
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then(a.tag.cmp(&b.tag)));
        Ok(out)
    }

    /// Removes node images (with `all`, every Berth image) not used within
    /// `options.unused_for`. An image a container still uses (a running session's) is kept:
    /// the daemon refuses to remove it. Returns the removed tags.
    #[tracing::instrument(skip(self))]
    pub async fn prune_unused(&self, options: PruneOptions) -> Result<Vec<String>> {
        let now = SystemTime::now();
        let mut removed = Vec::new();
        // Node images first: they are children of the bases.
        let mut images = self.list().await?;
        images.sort_by_key(|i| match i.kind.as_str() {
            k if k == Kind::Env.as_str() => 0,
            k if k == Kind::Base.as_str() => 1,
            _ => 2,
        });
        for image in images {
            if !options.all && image.kind != Kind::Env.as_str() {
                continue;
            }
            let seen = image.last_used.unwrap_or(image.created).max(image.created);
            if now.duration_since(seen).unwrap_or_default() < options.unused_for {
                continue;
            }
            if self.remove_unless_in_use(&image.tag).await? {
                let _ = std::fs::remove_file(self.usage_file(&image.tag));
                removed.push(image.tag);
            }
        }
        Ok(removed)
    }
}
