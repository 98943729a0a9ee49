//! One maker of a cached thing at a time on this machine: a file lock per thing (an image tag,
//! the host virtualenv) under `<cache>/locks/`, so a second process (or task) that wants it
//! waits, then reuses it.

use std::fs::{File, TryLockError};
use std::path::Path;

use crate::{CacheError, Progress, Step};

/// Held while a cached thing is checked and made; dropping it lets the next maker in.
#[must_use = "the lock is released when dropped"]
pub struct CacheLock {
    _file: File,
}

/// Takes the lock `<cache>/locks/<name>` that guards `what` (anything Berth makes once in its
/// cache), waiting (with a [`Step::Wait`] progress step) while another process or task holds it.
pub async fn cache_lock(
    cache_dir: &Path,
    name: &str,
    what: &str,
    progress: &dyn Progress,
) -> Result<CacheLock, CacheError> {
    let dir = cache_dir.join("locks");
    std::fs::create_dir_all(&dir)
        .map_err(|e| CacheError::io("creating the cache lock folder", &dir, e))?;
    let path = dir.join(name);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| CacheError::io("opening the cache lock", &path, e))?;
    match file.try_lock() {
        Ok(()) => return Ok(CacheLock { _file: file }),
        Err(TryLockError::WouldBlock) => {}
        Err(TryLockError::Error(e)) => {
            return Err(CacheError::io("locking the cache", &path, e));
        }
    }
    progress.step(
        Step::Wait,
        &format!("another Berth build of {what} is running; waiting for it to finish"),
    );
    tracing::info!(%what, "waiting for another build of the same thing");
    tokio::task::spawn_blocking(move || {
        file.lock()
            .map(|()| CacheLock { _file: file })
            .map_err(|e| CacheError::io("locking the cache", &path, e))
    })
    .await
    .map_err(|e| CacheError::io("locking the cache", &dir, std::io::Error::other(e)))?
}

/// A flat file name standing for an image tag or other name: `berth/python:3.11` →
/// `berth_python_3.11`.
pub fn tag_file_name(tag: &str) -> String {
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
    fn names_become_flat_file_names() {
        assert_eq!(tag_file_name("berth/python:3.11"), "berth_python_3.11");
        assert_eq!(tag_file_name("../x"), ".._x");
    }

    #[tokio::test]
    async fn a_second_locker_waits_for_the_first() {
        let cache = tempfile::tempdir().unwrap();
        let first = cache_lock(cache.path(), "thing.lock", "the thing", &crate::Quiet)
            .await
            .unwrap();
        let waited = std::sync::Mutex::new(Vec::new());
        let record = |l: &str| waited.lock().unwrap().push(l.to_owned());
        let second = cache_lock(cache.path(), "thing.lock", "the thing", &record);
        tokio::pin!(second);
        // The second cannot finish while the first holds the lock.
        assert!(futures_util::poll!(&mut second).is_pending());
        drop(first);
        let _second = second.await.unwrap();
        let first_line = waited.lock().unwrap()[0].clone();
        assert!(
            first_line.contains("another Berth build of the thing"),
            "{first_line}"
        );
        // Other names are not blocked.
        let _other = cache_lock(cache.path(), "other.lock", "other", &crate::Quiet)
            .await
            .unwrap();
    }
}
