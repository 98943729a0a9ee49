//! One network namespace for the containers of a [`Runtime`](crate::Runtime).
//!
//! Docker makes a network namespace for every container it starts, even one without network,
//! and that is a large part of a start: here three containers started at once took 380 ms
//! each with its own namespace and 205 ms joining one (`docker start`, BENCHMARKS.md,
//! "Startup"). So a runtime keeps one small container, the *holder*, whose namespace has
//! loopback only, and the containers of its sessions that have no network join it (Docker's
//! `container:<id>` network mode) instead of each getting one. What they share is loopback:
//! they can reach each other's listening sockets on 127.0.0.1, nothing else; a node that
//! asks for a network (`bridge`, `host`) gets it as before.
//!
//! The holder is owned like a session: an owner file that the runtime holds locked, which
//! labels the container, and which the holder's one process waits on, so that the holder
//! exits by itself when the runtime's process is gone, however it ended; a later start sweeps
//! what is left. It starts at the first container start that can use it (in that container's
//! image), again if it went, and stops at [`Runtime::shutdown`](crate::Runtime::shutdown).
//! Without a holder (it could not start) a container gets a namespace of its own. The first
//! session of a runtime waits for the holder's start, so a runtime that starts a single
//! session is made without one ([`Runtime::without_shared_network`]).
//!
//! [`Runtime::without_shared_network`]: crate::Runtime::without_shared_network

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_backend::{Backend, LaunchSpec, Network, NodeProcess};
use berth_transport::SessionId;

use crate::SessionError;
use crate::owner::OwnerLock;
use crate::python::{CONTAINER_OWNER_FILE, owned_by};

/// How long the holder may take to stop before it is killed (it has nothing to finish).
const STOP_GRACE: Duration = Duration::from_millis(500);

/// The holder's node id (its `berth.node` label).
const HOLDER_NODE: &str = "network";

/// A runtime's shared network namespace: its holder, once started.
#[derive(Default)]
pub(crate) struct SharedNetwork {
    holder: tokio::sync::Mutex<Option<Holder>>,
    /// Set by `shutdown` (or from the start, for a runtime without one): no holder starts.
    closed: AtomicBool,
}

/// The running holder.
struct Holder {
    owner: OwnerLock,
    process: Box<dyn NodeProcess>,
}

impl SharedNetwork {
    /// None at all: every container gets a namespace of its own.
    pub(crate) fn off() -> Self {
        Self {
            closed: AtomicBool::new(true),
            ..Self::default()
        }
    }

    /// `spec` made to join the shared namespace, when it has no network and `backend` can
    /// share one; else `spec` as it was.
    pub(crate) async fn join(
        &self,
        mut spec: LaunchSpec,
        backend: &Arc<dyn Backend>,
    ) -> LaunchSpec {
        if spec.network != Network::None || !backend.capabilities().shared_network {
            return spec;
        }
        let Some(image) = spec.image.clone() else {
            return spec;
        };
        let mut holder = self.holder.lock().await;
        if self.closed.load(Ordering::SeqCst) {
            return spec;
        }
        if let Some(gone) = holder.take_if(|h| h.process.try_exit().is_some()) {
            tracing::warn!(
                container = gone.process.id(),
                "the network holder exited; starting another"
            );
            gone.stop().await;
        }
        if holder.is_none() {
            match Holder::start(backend, &image).await {
                Ok(started) => *holder = Some(started),
                Err(e) => {
                    tracing::warn!(error = %e, "no shared network namespace: this container gets one of its own");
                    return spec;
                }
            }
        }
        spec.network_of = holder.as_ref().map(|h| h.process.id().to_owned());
        spec
    }

    /// Stops the holder; none starts afterwards. Containers that joined it keep the namespace
    /// for as long as they run.
    pub(crate) async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Some(holder) = self.holder.lock().await.take() {
            holder.stop().await;
        }
    }

    /// Kills the holder without waiting (for drop paths).
    pub(crate) fn abort(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut holder) = self.holder.try_lock()
            && let Some(holder) = holder.take()
        {
            holder.process.abort();
        }
    }
}

impl Holder {
    /// Starts a holder in `image`, owned by an owner file of its own.
    async fn start(backend: &Arc<dyn Backend>, image: &str) -> Result<Self, SessionError> {
        let owner_id = SessionId::random();
        let span = tracing::info_span!("network_holder", owner_id = %owner_id);
        let _enter = span.enter();
        let mut owner = OwnerLock::acquire(&owner_id)?;
        owner.record_backend(backend.name());
        let spec = LaunchSpec {
            node_id: HOLDER_NODE.into(),
            image: Some(image.to_owned()),
            // Waits for the owner's lock: it comes free when the runtime's process is gone.
            command: vec![
                "python3".into(),
                "-c".into(),
                format!("import fcntl; fcntl.flock(open({CONTAINER_OWNER_FILE:?}), fcntl.LOCK_SH)"),
            ],
            ..LaunchSpec::default()
        };
        let spec = owned_by(spec, &owner_id, owner.path());
        drop(_enter);
        match backend.launch(&spec).await {
            Ok(process) => {
                tracing::info!(owner_id = %owner_id, container = process.id(), "network holder started");
                Ok(Self { owner, process })
            }
            Err(e) => {
                owner.release();
                Err(e.into())
            }
        }
    }

    /// Stops and removes its container, then its owner file.
    async fn stop(self) {
        let Self { owner, process } = self;
        match process.stop(STOP_GRACE).await {
            Ok(_) => owner.release(),
            Err(e) => {
                tracing::warn!(error = %e, "stopping the network holder failed; its owner file stays for a sweep");
            }
        }
    }
}
