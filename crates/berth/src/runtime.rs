//! The runtime: what outlives sessions. One per host process (or per service); sessions started
//! from it share container nodes ([`crate::pool`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use berth_manifest::{Executor, Manifest};
use berth_transport::SessionId;

use crate::plan::Plan;
use crate::pool::{Lease, NodePool, SharedNodeInfo};
use crate::session::{checked_backend, node_image, shared_container};
use crate::{Session, SessionError, SessionOptions};

/// A long-lived owner of shared container nodes. Sessions started with
/// [`Runtime::session`] serve a container node from one running container shared with every
/// other session of this runtime whose node has the same environment, node type, limits,
/// volumes and env (unless the manifest says `docker: {shared: false}`). Each session still
/// gets its own node instance (its own `params` and state) and its own channels. A shared
/// container stops when its last session ends.
///
/// Its containers without network share one network namespace (loopback only), held by a
/// small container the runtime starts once its first sessions are up and keeps until
/// [`Runtime::shutdown`]: Docker then makes no namespace at each later start, which takes a
/// large part of it (`BENCHMARKS.md`, "Startup"). The first session's containers get
/// namespaces of their own, as a session started alone does; a runtime for a single session
/// can do without the holder ([`Runtime::without_shared_network`]).
///
/// ```no_run
/// # async fn demo() -> Result<(), berth::SessionError> {
/// let manifest = berth::Manifest::from_path("examples/gain-docker/pipeline.yaml").map_err(berth::SessionError::from)?;
/// let runtime = berth::Runtime::new();
/// let a = runtime.session(&manifest, berth::SessionOptions::default()).await?;
/// let b = runtime.session(&manifest, berth::SessionOptions::default()).await?; // joins a's container
/// assert_eq!(runtime.shared_nodes().len(), 1);
/// a.stop().await?;
/// b.stop().await?; // the container goes with the last session
/// runtime.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct Runtime {
    pool: Arc<NodePool>,
    /// The runtime's own holds on warm containers (no node instance attached).
    warm: Arc<Mutex<Vec<Lease>>>,
}

impl Runtime {
    /// A runtime with no shared containers yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A runtime whose containers each get a network namespace of their own, as sessions
    /// started alone do: for a runtime that starts one session, which would start the holder
    /// of the shared namespace for nothing (`berth run`).
    pub fn without_shared_network() -> Self {
        Self {
            pool: Arc::new(NodePool::without_shared_network()),
            warm: Arc::default(),
        }
    }

    /// Starts a session of `manifest` whose container nodes are shared within this runtime.
    pub async fn session(
        &self,
        manifest: &Manifest,
        options: SessionOptions,
    ) -> Result<Session, SessionError> {
        Session::start_in(manifest, options, Some(Arc::clone(&self.pool))).await
    }

    /// The shared containers running now, with how many node instances each serves.
    pub fn shared_nodes(&self) -> Vec<SharedNodeInfo> {
        self.pool.list()
    }

    /// Starts (or joins) the shared container of every shared container node of `manifest`,
    /// all at once, and keeps each running with no session on it, so that a session of the
    /// manifest started with the same `options` attaches to a runner already up. One warm
    /// container per environment and node type serves every session of this runtime (each
    /// attaches its own node instance). Returns how many containers this call holds warm;
    /// [`Runtime::cool`] or [`Runtime::shutdown`] lets them go.
    pub async fn warm(
        &self,
        manifest: &Manifest,
        options: &SessionOptions,
    ) -> Result<usize, SessionError> {
        crate::recommended::link();
        options.check_realtime()?;
        let plan = Plan::new(manifest, SessionId::random())?;
        let transport = options.transport_or_default()?;
        if !transport.crosses_processes() {
            return Err(SessionError::InProcessTransport {
                node_id: "(warm containers)".into(),
                transport: transport.name(),
            });
        }
        let shared_paths = transport.shared_paths();
        let base_dir = manifest
            .base_dir()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut starts = Vec::new();
        for node in &plan.nodes {
            let shared = node.spec.docker.as_ref().is_some_and(|d| d.shared);
            if node.executor != Executor::Docker || !shared {
                continue;
            }
            let backend = checked_backend("docker").await?;
            let image = node_image(node, options).await?;
            let (key, start, _) = shared_container(
                node,
                &base_dir,
                image,
                &shared_paths,
                options,
                &backend,
                &transport,
            )?;
            // No session's instance can be named so: theirs are `{session}_{node}_{n}`.
            starts.push((key, start, format!("warm-{}", node.spec.id)));
        }
        let _starting = self.pool.starting();
        let span = tracing::info_span!("warm", pipeline = %manifest.metadata.name);
        let leases = tracing::Instrument::instrument(
            futures_util::future::try_join_all(
                starts
                    .into_iter()
                    .map(|(key, start, holder)| self.pool.acquire(key, holder, start)),
            ),
            span,
        )
        .await?;
        let count = leases.len();
        self.warm
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(leases.into_iter().map(Lease::into_warm_hold));
        Ok(count)
    }

    /// Lets go of every container [`Runtime::warm`] holds: each stops when its last session
    /// ends (at once, if none is on it).
    pub async fn cool(&self) {
        let leases = std::mem::take(&mut *self.warm.lock().unwrap_or_else(|p| p.into_inner()));
        futures_util::future::join_all(leases.into_iter().map(|lease| lease.release(false))).await;
    }

    /// Stops every shared container still running, warm ones included (sessions still using
    /// one see it exit), and the network holder (containers still in its namespace keep it).
    pub async fn shutdown(&self) {
        self.cool().await;
        self.pool.shutdown().await;
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // The last handle: nothing can lease a container any more. Its warm holds go first;
        // if no session holds the pool besides them, every container is killed now.
        if Arc::strong_count(&self.warm) == 1 {
            let warm = std::mem::take(&mut *self.warm.lock().unwrap_or_else(|p| p.into_inner()));
            let only_warm = Arc::strong_count(&self.pool) == 1 + warm.len();
            if only_warm {
                self.pool.abort();
            }
            drop(warm);
        }
    }
}
