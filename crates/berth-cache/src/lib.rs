//! Berth's per-user cache: where it is ([`default_cache_dir`]), one maker of a cached thing
//! at a time ([`cache_lock`]), folders only their owner may write ([`private_dir`]), and how a
//! long step reports its progress ([`Progress`]).
//!
//! Everything Berth makes once and reuses lives here: image inputs (root filesystems,
//! wheelhouses), the host virtualenv, the runner copy for host processes, session owner and
//! status files. This crate knows nothing of Docker or of the transport, so a build without
//! either still finds the cache.

mod error;
mod lock;
mod private;
mod progress;
mod publish;

use std::path::PathBuf;

pub use error::CacheError;
pub use lock::{CacheLock, cache_lock, tag_file_name};
pub use private::private_dir;
pub use progress::{Progress, Quiet, Step};
pub use publish::publish_dir;

/// The iceoryx2 version the host uses; images and the host virtualenv get exactly this wheel.
/// Read from `iceoryx2-version.txt` at the workspace root, the single place it is stated.
pub const ICEORYX2_VERSION: &str = include_str!("../../../iceoryx2-version.txt").trim_ascii();

/// Berth's cache folder on this host: `$BERTH_CACHE_DIR`, else `$XDG_CACHE_HOME/berth`, else
/// `~/.cache/berth`.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os("BERTH_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("berth")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/berth")))
        .unwrap_or_else(|| std::env::temp_dir().join("berth-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iceoryx2_version_comes_from_the_workspace_file() {
        assert!(!ICEORYX2_VERSION.is_empty());
        assert!(!ICEORYX2_VERSION.contains(char::is_whitespace));
        assert_eq!(ICEORYX2_VERSION.split('.').count(), 3);
    }
}
