//! Finding the Docker daemon, checking that it answers, and agreeing on an API version.

use std::path::Path;
use std::time::Duration;

use berth_backend::BackendError;
use bollard::{API_DEFAULT_VERSION, Docker};

use crate::error::{BACKEND, START_DAEMON, describe, with_causes};

/// How long the daemon has to answer a ping before it counts as unavailable.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How long the version negotiation and the info query may take once the daemon answered.
const SETUP_TIMEOUT: Duration = Duration::from_secs(5);

/// Timeout for getting response headers of any other request, in seconds (bollard's default).
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// The socket the Docker CLI uses when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Where the daemon is expected, and who said so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Address {
    /// `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub host: String,
    /// Where `host` came from, for error messages.
    pub origin: Origin,
}

/// Where an [`Address`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The `DOCKER_HOST` environment variable.
    Environment,
    /// Nothing was set: the standard socket.
    Default,
    /// The caller passed it.
    Given,
}

impl Address {
    /// `DOCKER_HOST` when set, else the standard socket.
    pub fn from_env() -> Self {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.trim().is_empty() => Self {
                host: host.trim().to_owned(),
                origin: Origin::Environment,
            },
            _ => Self {
                host: DEFAULT_HOST.to_owned(),
                origin: Origin::Default,
            },
        }
    }

    /// An address chosen by the caller.
    pub fn given(host: &str) -> Self {
        Self {
            host: host.trim().to_owned(),
            origin: Origin::Given,
        }
    }

    /// `unix:///x.sock (from DOCKER_HOST)` and the like.
    pub fn describe(&self) -> String {
        let origin = match self.origin {
            Origin::Environment => "from DOCKER_HOST",
            Origin::Default => "the default; DOCKER_HOST is not set",
            Origin::Given => "as configured",
        };
        format!("`{}` ({origin})", self.host)
    }

    fn unavailable(&self, what: impl std::fmt::Display) -> BackendError {
        BackendError::Unavailable {
            backend: BACKEND,
            detail: format!("the Docker daemon at {} {what}", self.describe()),
            fix: START_DAEMON.to_owned(),
        }
    }
}

/// A connected daemon and what it supports.
#[derive(Clone, Debug)]
pub(crate) struct Daemon {
    /// The client, with the API version negotiated.
    pub docker: Docker,
    /// Whether the daemon has an init binary (`--init`), so signals reach the runner.
    pub init_supported: bool,
    /// The daemon's storage driver (`overlay2`, `fuse-overlayfs`, …), when it said.
    pub storage_driver: Option<String>,
}

/// Builds the client (no IO beyond checking that a Unix socket exists).
pub(crate) fn client(address: &Address) -> Result<Docker, BackendError> {
    let host = address.host.as_str();
    let result = if let Some(path) = host.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(address.unavailable(format!("cannot be reached: no socket at `{path}`")));
        }
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if host.starts_with('/') {
        if !Path::new(host).exists() {
            return Err(address.unavailable(format!("cannot be reached: no socket at `{host}`")));
        }
        Docker::connect_with_unix(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else if host.starts_with("tcp://") || host.starts_with("http://") {
        Docker::connect_with_http(host, REQUEST_TIMEOUT_SECS, API_DEFAULT_VERSION)
    } else {
        return Err(BackendError::Unavailable {
            backend: BACKEND,
            detail: format!(
                "cannot use the Docker address {}: only `unix://` and `tcp://` addresses are supported",
                address.describe()
            ),
            fix: "set DOCKER_HOST to `unix:///var/run/docker.sock` or `tcp://host:2375`".into(),
        });
    };
    result.map_err(|e| address.unavailable(format!("cannot be reached: {}", describe(&e))))
}

/// Pings the daemon (within [`PING_TIMEOUT`]).
pub(crate) async fn ping(docker: &Docker, address: &Address) -> Result<(), BackendError> {
    match tokio::time::timeout(PING_TIMEOUT, docker.ping()).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(address.unavailable(format!("does not answer: {}", with_causes(&e)))),
        Err(_) => Err(address.unavailable(format!(
            "did not answer a ping within {} s",
            PING_TIMEOUT.as_secs()
        ))),
    }
}

/// Connects: client, ping, API version negotiation, and a look at the daemon's features.
pub(crate) async fn connect(address: &Address) -> Result<Daemon, BackendError> {
    let docker = client(address)?;
    ping(&docker, address).await?;
    let docker = match tokio::time::timeout(SETUP_TIMEOUT, docker.negotiate_version()).await {
        Ok(Ok(docker)) => docker,
        Ok(Err(e)) => {
            return Err(address.unavailable(format!(
                "answered a ping but not the version query: {}",
                with_causes(&e)
            )));
        }
        Err(_) => {
            return Err(address.unavailable("answered a ping but not the version query in time"));
        }
    };
    let info = tokio::time::timeout(SETUP_TIMEOUT, docker.info()).await;
    let (init_supported, storage_driver) = match info {
        Ok(Ok(info)) => (
            info.init_binary.is_some_and(|b| !b.is_empty()),
            info.driver.filter(|d| !d.is_empty()),
        ),
        // Every engine since API 1.25 ships an init binary; assume it when info is unreadable.
        _ => (true, None),
    };
    let version = docker.client_version();
    tracing::debug!(
        address = %address.host,
        api = %format!("{}.{}", version.major_version, version.minor_version),
        init_supported,
        storage_driver = storage_driver.as_deref().unwrap_or("unknown"),
        "connected to the Docker daemon"
    );
    Ok(Daemon {
        docker,
        init_supported,
        storage_driver,
    })
}

/// What to tell the user of a daemon whose storage driver slows every container's start (the
/// runner reads its interpreter, numpy and iceoryx2 from the image at each start), or `None`
/// for the kernel's overlay and the other drivers.
pub(crate) fn slow_storage_driver(driver: &str) -> Option<String> {
    let why = match driver {
        "fuse-overlayfs" => {
            "every file a container reads passes through a FUSE process of its own, so each \
             container starts slower than on overlay2 (Berth's BENCHMARKS.md, Startup: a \
             quarter to nearly half of a cold start on one machine)"
        }
        "vfs" => {
            "each container's root filesystem is a full copy of its image, made as the \
             container is created"
        }
        _ => return None,
    };
    Some(format!(
        "Docker's storage driver is {driver}: {why}. Where the filesystem under Docker's data \
         root supports overlayfs, set `\"storage-driver\": \"overlay2\"` in \
         /etc/docker/daemon.json (rootless Docker: ~/.config/docker/daemon.json) and restart \
         Docker; if it does not start, remove the setting again. Images and containers kept \
         by the old driver are not seen by the new one: Berth builds its images again"
    ))
}

/// Warns, once a process, about a storage driver that slows every container's start.
pub(crate) fn warn_if_slow(daemon: &Daemon, address: &Address) {
    static WARNED: std::sync::Once = std::sync::Once::new();
    if let Some(advice) = daemon
        .storage_driver
        .as_deref()
        .and_then(slow_storage_driver)
    {
        WARNED.call_once(|| tracing::warn!(address = %address.host, "{advice}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_socket_is_named_with_its_origin_and_the_fix() {
        let err = client(&Address::given("unix:///no/such/berth.sock")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("/no/such/berth.sock"), "{text}");
        assert!(text.contains("systemctl start docker"), "{text}");
        assert!(text.contains("DOCKER_HOST"), "{text}");
    }

    #[test]
    fn a_storage_driver_that_slows_every_start_is_named_with_the_fix() {
        for driver in ["fuse-overlayfs", "vfs"] {
            let advice = slow_storage_driver(driver).expect("a slow driver");
            assert!(advice.contains(driver), "{advice}");
            assert!(advice.contains("overlay2"), "{advice}");
            assert!(advice.contains("/etc/docker/daemon.json"), "{advice}");
        }
        for driver in ["overlay2", "btrfs", "zfs", "devicemapper"] {
            assert_eq!(slow_storage_driver(driver), None, "{driver}");
        }
    }

    #[test]
    fn unknown_schemes_are_refused_clearly() {
        let err = client(&Address::given("ftp://example")).unwrap_err();
        assert!(err.to_string().contains("unix://"), "{err}");
    }
}
