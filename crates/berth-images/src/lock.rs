//! One build of an image at a time on this machine: the cache lock of its tag (see
//! [`berth_cache::cache_lock`]).

use berth_cache::{CacheLock, Progress, cache_lock, tag_file_name};

use crate::builder::ImageBuilder;
use crate::error::Result;

impl ImageBuilder {
    /// Takes the build lock of `tag`, waiting (with a progress step) while another process
    /// or task holds it.
    pub(crate) async fn build_lock(&self, tag: &str, progress: &dyn Progress) -> Result<CacheLock> {
        Ok(cache_lock(&self.config.cache_dir, &lock_name(tag), tag, progress).await?)
    }
}

/// The lock file's name for a tag: `berth/python:3.11` → `berth_python_3.11.lock`.
fn lock_name(tag: &str) -> String {
    format!("{}.lock", tag_file_name(tag))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_are_flat_file_names() {
        assert_eq!(lock_name("berth/python:3.11"), "berth_python_3.11.lock");
    }
}
