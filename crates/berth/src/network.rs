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
//! what is left. It stops at [`Runtime::shutdown`](crate::Runtime::shutdown).
//!
//! No session waits for a holder that is not there: a container that finds none gets a
//! namespace of its own and names its image as the one to start a holder in, and once no
//! session or warm start of the runtime is under way any more ([`SharedNetwork::start_wanted`],
//! from `pool::Starting`) the holder starts in the background (in the daemon, a holder started
//! before or beside containers costs them more than their own namespaces do). A container
//! start that comes while the holder starts waits for it and joins; a holder that exited is
//! replaced the same way, after the starts that found it gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// Held for the whole of a holder's start, so a join that comes meanwhile waits for it.
    holder: Arc<tokio::sync::Mutex<Option<Holder>>>,
    /// What to start a holder in, named by the latest join that found none.
    wanted: Mutex<Option<Wanted>>,
    /// Set by `shutdown` or `abort` (or from the start, for a runtime without one): no holder
    /// starts, and one that was starting stops.
    closed: Arc<AtomicBool>,
}

/// The running holder.
struct Holder {
    owner: OwnerLock,
    process: Box<dyn NodeProcess>,
}

/// The image and backend a holder is to start with.
struct Wanted {
    image: String,
    backend: Arc<dyn Backend>,
}

impl SharedNetwork {
    /// None at all: every container gets a namespace of its own.
    pub(crate) fn off() -> Self {
        Self {
            closed: Arc::new(AtomicBool::new(true)),
            ..Self::default()
        }
    }

    /// `spec` made to join the shared namespace, when it has no network, `backend` can share
    /// one and a holder runs (or is starting: this waits for it); else `spec` as it was, and
    /// its image is the one [`SharedNetwork::start_wanted`] starts a holder in.
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
                "the network holder exited; another starts after this session"
            );
            gone.stop().await;
        }
        match holder.as_ref() {
            Some(running) => spec.network_of = Some(running.process.id().to_owned()),
            None => {
                *lock(&self.wanted) = Some(Wanted {
                    image,
                    backend: Arc::clone(backend),
                });
            }
        }
        spec
    }

    /// Starts a holder in the background when a join found none, unless one runs or is
    /// starting. Called when the runtime's last start under way ends: the lock is taken here,
    /// before this returns, so every join after it waits for the holder and joins it.
    pub(crate) fn start_wanted(&self) {
        let Some(wanted) = lock(&self.wanted).take() else {
            return;
        };
        if self.closed.load(Ordering::SeqCst) {
            return;
        }
        let (Ok(runtime), Ok(mut holder)) = (
            tokio::runtime::Handle::try_current(),
            Arc::clone(&self.holder).try_lock_owned(),
        ) else {
            // Outside a runtime (a start dropped there), a join looking, or a holder starting:
            // the next start's end decides.
            lock(&self.wanted).get_or_insert(wanted);
            return;
        };
        if holder.is_some() {
            return;
        }
        let closed = Arc::clone(&self.closed);
        runtime.spawn(async move {
            match Holder::start(&wanted.backend, &wanted.image).await {
                Ok(started) if closed.load(Ordering::SeqCst) => started.stop().await,
                Ok(started) => *holder = Some(started),
                Err(e) => {
                    tracing::warn!(error = %e, "no shared network namespace: containers get one of their own");
                }
            }
        });
    }

    /// Stops the holder (after its start, if one is under way); none starts afterwards.
    /// Containers that joined it keep the namespace for as long as they run.
    pub(crate) async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        lock(&self.wanted).take();
        if let Some(holder) = self.holder.lock().await.take() {
            holder.stop().await;
        }
    }

    /// Kills the holder without waiting (for drop paths). A holder still starting is dropped
    /// by its start once it sees the network closed.
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

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
