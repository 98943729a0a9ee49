//! Berth's Docker backend: each node's runner in a container of its own, driven through the
//! Docker Engine API.
//!
//! A container shares with the host exactly the mounts its spec lists — the folders the
//! transport needs shared (for iceoryx2: its root and `/dev/shm`) and the manifest's volumes —
//! and runs as the host's uid:gid so both sides can open each other's files. Everything else is shut: no network (unless [`DockerBackend::with_network`]),
//! no capabilities, no privilege gain, a hard memory limit without swap, a CPU quota and CPU
//! pinning when the spec asks. Containers carry the `berth.*` labels, which is how a session's
//! leftovers are found and swept. Nothing is pulled: images must exist locally.

mod connect;
mod container;
mod error;
mod logs;
mod node;
mod stats;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use berth_backend::{
    Backend, BackendError, Capabilities, LABEL_MANAGED_BY, LABEL_NODE, LABEL_SESSION, LaunchSpec,
    LogLine, MANAGED_BY, NodeProcess,
};
use bollard::Docker;
use bollard::query_parameters::ListContainersOptions;
use tokio::sync::OnceCell;

pub use connect::{DEFAULT_HOST, PING_TIMEOUT};
pub use container::{ENV_MANAGED_BY, ENV_SESSION, host_user};
pub use node::DockerNode;

use crate::connect::{Address, Daemon};
use crate::container::Settings;
use crate::error::operation_error;

/// Connects to the daemon named by `DOCKER_HOST` (else the standard socket): ping within
/// [`PING_TIMEOUT`], API version negotiated down to the daemon's. The one way every part of
/// Berth (backend, image builder, CLI) reaches Docker.
pub async fn connect_client() -> Result<Docker, BackendError> {
    DockerBackend::connect().await?.client().await
}

/// A container a Berth session made, as Docker lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManagedContainer {
    /// Its id.
    pub id: String,
    /// Its `berth.session` label: the session (or shared container owner) that made it.
    pub session: String,
    /// Its `berth.node` label.
    pub node: String,
    /// Its image.
    pub image: String,
    /// Docker's state (`running`, `exited`, …).
    pub state: String,
}

/// Runs node runners in Docker containers.
#[derive(Clone, Debug)]
pub struct DockerBackend {
    address: Address,
    network: bool,
    daemon: Arc<OnceCell<Daemon>>,
}

impl Default for DockerBackend {
    fn default() -> Self {
        Self::new()
    }
}

impl DockerBackend {
    /// The daemon named by `DOCKER_HOST` (else the standard socket), connected on first use.
    /// Does no IO; [`Backend::check`] or [`DockerBackend::connect`] tell whether it answers.
    pub fn new() -> Self {
        Self::with_address(Address::from_env())
    }

    /// The daemon at `host` (`unix:///path.sock`, `tcp://host:port`), connected on first use.
    pub fn for_host(host: &str) -> Self {
        Self::with_address(Address::given(host))
    }

    fn with_address(address: Address) -> Self {
        Self {
            address,
            network: false,
            daemon: Arc::new(OnceCell::new()),
        }
    }

    /// Connects to the daemon named by `DOCKER_HOST` (else the standard socket), failing
    /// within [`PING_TIMEOUT`] with [`BackendError::Unavailable`] if it does not answer.
    pub async fn connect() -> Result<Self, BackendError> {
        let backend = Self::new();
        backend.daemon().await?;
        Ok(backend)
    }

    /// Connects to the daemon at `host`, failing within [`PING_TIMEOUT`] if it does not answer.
    pub async fn connect_to(host: &str) -> Result<Self, BackendError> {
        let backend = Self::for_host(host);
        backend.daemon().await?;
        Ok(backend)
    }

    /// Gives containers Docker's default network (`true`) or none at all (`false`, the default).
    pub fn with_network(mut self, enabled: bool) -> Self {
        self.network = enabled;
        self
    }

    /// The daemon address in use.
    pub fn host(&self) -> &str {
        &self.address.host
    }

    /// The connected client (API version negotiated), for callers that need more of the API.
    pub async fn client(&self) -> Result<Docker, BackendError> {
        Ok(self.daemon().await?.docker.clone())
    }

    /// The daemon's storage driver (`overlay2`, `fuse-overlayfs`, …), or `None` when its info
    /// did not say. The first container a process starts warns about a driver that slows every
    /// container's start.
    pub async fn storage_driver(&self) -> Result<Option<String>, BackendError> {
        Ok(self.daemon().await?.storage_driver.clone())
    }

    /// Force-removes every container any Berth session left behind (labelled
    /// `berth.managed-by=berth`), e.g. after a crash; returns how many.
    pub async fn sweep_all(&self) -> Result<usize, BackendError> {
        self.sweep(
            vec![format!("{LABEL_MANAGED_BY}={MANAGED_BY}")],
            "all sessions",
        )
        .await
    }

    /// Reads container `id`'s output, a line at a time with Docker's timestamp, into `sink`:
    /// what it logged so far and, with `follow`, everything after until the container ends.
    pub async fn read_logs(
        &self,
        id: &str,
        follow: bool,
        sink: &mut (dyn FnMut(LogLine) + Send),
    ) -> Result<(), BackendError> {
        let docker = &self.daemon().await?.docker;
        logs::read(docker, id, follow, sink)
            .await
            .map_err(|e| operation_error("read the logs of", id, &e))
    }

    /// Every container a Berth session made (labelled `berth.managed-by=berth`), running or
    /// not, with its labels: what `berth ps` checks against the sessions that run.
    pub async fn managed_containers(&self) -> Result<Vec<ManagedContainer>, BackendError> {
        let docker = &self.daemon().await?.docker;
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([(
                "label".to_owned(),
                vec![format!("{LABEL_MANAGED_BY}={MANAGED_BY}")],
            )])),
            ..ListContainersOptions::default()
        };
        let containers = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| operation_error("list containers", "all sessions", &e))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let labels = c.labels.unwrap_or_default();
                Some(ManagedContainer {
                    id: c.id?,
                    session: labels.get(LABEL_SESSION).cloned().unwrap_or_default(),
                    node: labels.get(LABEL_NODE).cloned().unwrap_or_default(),
                    image: c.image.unwrap_or_default(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn daemon(&self) -> Result<&Daemon, BackendError> {
        self.daemon
            .get_or_try_init(|| connect::connect(&self.address))
            .await
    }

    fn session_filter(session_id: &str) -> Vec<String> {
        vec![
            format!("{LABEL_SESSION}={session_id}"),
            format!("{LABEL_MANAGED_BY}={MANAGED_BY}"),
        ]
    }

    /// Names and ids of the containers (running or not) carrying all of `labels`.
    async fn containers(
        &self,
        labels: Vec<String>,
        target: &str,
    ) -> Result<Vec<(String, String)>, BackendError> {
        let docker = &self.daemon().await?.docker;
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), labels)])),
            ..ListContainersOptions::default()
        };
        let containers = docker
            .list_containers(Some(options))
            .await
            .map_err(|e| operation_error("list containers", target, &e))?;
        Ok(containers
            .into_iter()
            .filter_map(|c| {
                let id = c.id?;
                let name = c
                    .names
                    .and_then(|names| names.into_iter().next())
                    .map(|n| n.trim_start_matches('/').to_owned())
                    .unwrap_or_else(|| id.clone());
                Some((name, id))
            })
            .collect())
    }

    async fn sweep(&self, labels: Vec<String>, target: &str) -> Result<usize, BackendError> {
        let containers = self.containers(labels, target).await?;
        let docker = &self.daemon().await?.docker;
        for (name, id) in &containers {
            tracing::info!(container = %name, "sweeping a leftover container");
            node::remove(docker, id, target, "").await?;
        }
        Ok(containers.len())
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            hard_memory_limit: true,
            cpu_limit: true,
            isolated_filesystem: true,
            cpu_pinning: true,
            shared_network: true,
        }
    }

    async fn check(&self) -> Result<(), BackendError> {
        match self.daemon.get() {
            // Connected before: the daemon must still answer.
            Some(daemon) => connect::ping(&daemon.docker, &self.address).await,
            None => self.daemon().await.map(|_| ()),
        }
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Box<dyn NodeProcess>, BackendError> {
        let daemon = self.daemon().await?;
        connect::warn_if_slow(daemon, &self.address);
        let settings = Settings {
            network: self.network,
            init: daemon.init_supported,
        };
        Ok(Box::new(
            DockerNode::launch(daemon.docker.clone(), spec, settings).await?,
        ))
    }

    async fn session_resources(&self, session_id: &str) -> Result<Vec<String>, BackendError> {
        let containers = self
            .containers(Self::session_filter(session_id), session_id)
            .await?;
        Ok(containers.into_iter().map(|(name, _)| name).collect())
    }

    async fn sweep_session(&self, session_id: &str) -> Result<usize, BackendError> {
        self.sweep(Self::session_filter(session_id), session_id)
            .await
    }
}

berth_backend::inventory::submit! {
    berth_backend::BackendPlugin { name: "docker", create: || Ok(Arc::new(DockerBackend::new())) }
}
