//! What can go wrong with the cache: always a file or folder, named with what was being done.

use std::path::PathBuf;

/// A cache folder, lock or file could not be made or used.
#[derive(Debug, thiserror::Error)]
#[error("{context} ({}): {source}", path.display())]
pub struct CacheError {
    /// What was being done, e.g. "locking the image build".
    pub context: String,
    /// The file or folder involved.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: std::io::Error,
}

impl CacheError {
    /// Names `path` and what was being done with it.
    pub fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        CacheError {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}
