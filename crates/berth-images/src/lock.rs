//! One build of a thing at a time on this machine: a file lock per image tag (or other cached
//! thing) under `<cache>/locks/`, so a second process (or task) that wants it waits, then
//! reuses it.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::builder::ImageBuilder;
use crate::error::{ImageError, Result};
use crate::{Progress, Step};

/// Held while an image is checked and built; dropping it lets the next builder in.
#[must_use = "the lock is released when dropped"]
pub struct BuildLock {
    _file: File,
}

impl ImageBuilder {
    /// Takes the build lock of `tag`, waiting (with a progress step) while another process
    /// or task holds it.
    pub(crate) async fn build_lock(&self, tag: &str, progress: &dyn Progress) -> Result<BuildLock> {
        cache_lock(&self.config.cache_dir, &lock_name(tag), tag, progress).await
    }
}

/// Takes the lock `<cache>/locks/<name>` that guards `what` (anything Berth makes once in its
/// cache), waiting (with a progress step) while another process or task holds it.
pub async fn cache_lock(
    cache_dir: &Path,
    name: &str,
    what: &str,
    progress: &dyn Progress,
) -> Result<BuildLock> {
    let dir = cache_dir.join("locks");
    std::fs::create_dir_all(&dir)
        .map_err(|e| ImageError::io("creating the build lock folder", &dir, e))?;
    let path = dir.join(name);
    let file = open(&path)?;
    match file.try_lock() {
        Ok(()) => return Ok(BuildLock { _file: file }),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => {
            return Err(ImageError::io("locking the image build", &path, e));
        }
    }
    progress.step(
        Step::Wait,
        &format!("another Berth build of {what} is running; waiting for it to finish"),
    );
    tracing::info!(%what, "waiting for another build of the same thing");
    tokio::task::spawn_blocking(move || {
        file.lock()
            .map(|()| BuildLock { _file: file })
            .map_err(|e| ImageError::io("locking the image build", &path, e))
    })
    .await
    .map_err(|e| ImageError::io("locking the image build", &dir, std::io::Error::other(e)))?
}

fn open(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| ImageError::io("opening the build lock", path, e))
}

/// The lock file's name for a tag: `berth/python:3.11` → `berth_python_3.11.lock`.
fn lock_name(tag: &str) -> String {
    format!("{}.lock", tag_file_name(tag))
}

/// A flat file name standing for an image tag: `berth/python:3.11` → `berth_python_3.11`.
pub(crate) fn tag_file_name(tag: &str) -> String {
    tag.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_are_flat_file_names() {
        assert_eq!(lock_name("berth/python:3.11"), "berth_python_3.11.lock");
        assert_eq!(lock_name("../x"), ".._x.lock");
    }

    #[tokio::test]
    async fn a_second_locker_waits_for_the_first() {
        let cache = tempfile::tempdir().unwrap();
        let config = crate::ImageBuilderConfig {
            cache_dir: cache.path().to_path_buf(),
            ..Default::default()
        };
        // The lock never talks to the daemon; a client that is never used is enough.
        let docker = bollard::Docker::connect_with_http(
            "http://127.0.0.1:9",
            1,
            bollard::API_DEFAULT_VERSION,
        )
        .unwrap();
        let builder = ImageBuilder::with_config(docker, config);
        let first = builder
            .build_lock("berth/python:3.11", &crate::Quiet)
            .await
            .unwrap();
        let waited = std::sync::Mutex::new(Vec::new());
        let record = |l: &str| waited.lock().unwrap().push(l.to_owned());
        let second = builder.build_lock("berth/python:3.11", &record);
        tokio::pin!(second);
        // The second cannot finish while the first holds the lock.
        assert!(futures_util::poll!(&mut second).is_pending());
        drop(first);
        let _second = second.await.unwrap();
        let first_line = waited.lock().unwrap()[0].clone();
        assert!(
            first_line.contains("another Berth build of berth/python:3.11"),
            "{first_line}"
        );
        // Other tags are not blocked.
        let _other = builder
            .build_lock("berth/python:3.13", &crate::Quiet)
            .await
            .unwrap();
    }
}
