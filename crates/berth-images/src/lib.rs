//! Builds and caches the Docker images Berth runs Python nodes in — without a container
//! registry.
//!
//! Three layers of images, all labelled `berth.managed-by=berth` and `berth.kind=...`:
//!
//! 1. **Root filesystem** `berth/rootfs:<suite>` (`berth.kind=rootfs`): a Debian root
//!    filesystem made on the host with `mmdebstrap --variant=apt` (packages
//!    [`ROOTFS_PACKAGES`]) and imported through the Engine API (`docker import`). The tarball is
//!    kept in the cache directory, so a deleted image is re-imported in seconds.
//! 2. **Base** `berth/python:<version>` (`berth.kind=base`): a venv at `/opt/berth/venv`
//!    holding the runner's dependencies, `iceoryx2==`[`ICEORYX2_VERSION`] (with `flatbuffers`)
//!    and `numpy`, installed with `pip install --no-index` from a wheelhouse downloaded on the
//!    host (`pip download --only-binary=:all:` for every manylinux tag the suite's glibc
//!    loads, see [`pip_platforms`]; cached under `<cache>/wheelhouse/py<version>/`). Where the
//!    suite's glibc is older than the published iceoryx2 wheel needs
//!    ([`ICEORYX2_WHEEL_GLIBC`]; Debian bullseye for Python 3.9), that wheel is built on the
//!    host from the sdist with maturin and zig for the suite's glibc, and cached under
//!    `<cache>/source-wheels/`. The Berth runner is **not** in the image: the session mounts
//!    the host's runner read-only into each container, so a runner change rebuilds nothing.
//!    The venv is world-readable and `HOME=/tmp`, so containers run as any UID:GID. Which
//!    versions exist and which Debian suite carries each is stated in `python-versions.txt`.
//!    With [`BaseMode::Registry`] the base is `FROM python:<version>-slim` and pip installs from
//!    PyPI instead; [`BaseMode::Auto`] picks Registry when a pull probe answers within
//!    [`REGISTRY_PROBE_TIMEOUT`], Offline otherwise.
//!    The image carries `berth.definition-hash` (Dockerfile text, wheel names, root filesystem
//!    definition) and `berth.glibc`; an image with the same hash is reused, a different
//!    hash triggers a rebuild.
//! 3. **Node environment** `berth/env:<hash16>` (`berth.kind=env`, `berth.env-hash=<hash>`):
//!    built FROM the standard base or a validated custom base. Reused while the environment
//!    hash and the base image ID are unchanged.
//!    - `system_dependencies`: the `.deb` files are resolved and downloaded **on the host** by
//!      `apt-get install --download-only` run against the base image's own apt sources, keys and
//!      dpkg status (copied out of the image), so only what the base lacks is fetched; the
//!      build installs them with `apt-get install ./*.deb` and needs no network. Needs
//!      `apt-get` on the host (a few seconds per environment instead of a ~1–2 min
//!      `mmdebstrap` per environment).
//!    - `python_packages`: `pip download --only-binary=:all:` on the host for the image's Python
//!      version and every manylinux platform the base's glibc loads into a per-environment
//!      wheelhouse, then `pip install --no-index` in the build. The host's iceoryx2 pin joins
//!      the resolution, so no package drags in a dependency the installed iceoryx2 cannot use.
//!
//! Caches (under [`ImageBuilderConfig::cache_dir`], default `~/.cache/berth`):
//! `rootfs/<suite>-<hash16>.tar` (≈ 220 MB, replaced when its definition changes; delete it to
//! pick up newer Debian packages), `wheelhouse/py<version>/` (re-downloaded when the requirement
//! list changes; delete it to pick up a newer numpy), `source-wheels/`, `tools/` (maturin and
//! zig), `usage/` (when a session last used each image) and `locks/`. Cache directories are
//! filled in a temporary directory and renamed into place, so concurrent builders do not see
//! half-written caches; and each image is built under a file lock per tag, so two processes
//! that want the same image build it once: the second waits (it says so) and then reuses it.
//!
//! Dockerfiles use as few instructions as possible and put all labels in one `LABEL`
//! instruction: the classic builder commits a layer per instruction, which costs seconds per
//! step on slow storage drivers (`fuse-overlayfs`).
//!
//! Host tools used as subprocesses: `mmdebstrap` (offline bases), `python3 -m pip`
//! (wheelhouses), `apt-get` (system dependencies). Everything else goes through the Docker
//! Engine API (bollard).

mod base;
mod builder;
mod context;
mod debs;
mod docker_build;
mod env_image;
mod error;
mod hashing;
pub mod labels;
mod lock;
mod process;
mod prune;
mod rootfs;
mod source_wheel;
#[cfg(feature = "terminal")]
pub mod terminal;
mod usage;
mod validate;
mod wheelhouse;

pub use berth_cache::{
    CacheLock as BuildLock, ICEORYX2_VERSION, Progress, Quiet, Step, cache_lock, default_cache_dir,
};
pub use builder::{
    BaseMode, ImageBuilder, ImageBuilderConfig, ImageRef, REGISTRY_PROBE_TIMEOUT, RunAs,
};
pub use env_image::NodeEnvironment;
pub use error::{ImageError, Result};
pub use rootfs::{DebianSuite, ROOTFS_PACKAGES, debian_suite_for};
pub use usage::{ImageSummary, PruneOptions};
pub use validate::CustomBase;
pub use wheelhouse::{ICEORYX2_WHEEL_GLIBC, pip_platforms};

/// Checks a `MAJOR.MINOR` Python version string.
pub(crate) fn check_python_version(version: &str) -> Result<()> {
    let mut parts = version.split('.');
    let ok = matches!(
        (parts.next(), parts.next(), parts.next()),
        (Some(a), Some(b), None)
            if !a.is_empty() && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
    );
    if ok {
        Ok(())
    } else {
        Err(ImageError::InvalidPythonVersion {
            version: version.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_versions_are_checked() {
        assert!(check_python_version("3.11").is_ok());
        for bad in ["3", "3.11.2", "3.x", "", "3.", "py3.11"] {
            assert!(check_python_version(bad).is_err(), "{bad}");
        }
    }
}
