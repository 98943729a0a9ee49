//! The node pool: container nodes that the sessions of one [`Runtime`](crate::Runtime) share.
//!
//! Container nodes whose container would be identical (the [key](node_key): image, mounts,
//! environment, limits, CPUs, and the node type) are served by one running container, a
//! shared runner (`python -m berth.runner --serve`, see `docs/PROTOCOL.md`). A session holds a
//! [`Lease`] on it and attaches its own node instance (its own `params`, state and
//! session-scoped channels); when the last lease goes, the container stops and is removed.
//!
//! A shared container is owned like a session: it has an id of its own, which labels the
//! container, prefixes its command and reply channels, and names its owner file, so the
//! orphan sweep cleans up after it exactly as after a session.
//!
//! **Invariant:** lease counts change only under the pool's lock, and an entry leaves the map
//! in the same critical section that takes its count to zero. An acquirer therefore either
//! joins a live entry (keeping it alive) or makes a fresh one — never one that is stopping.
//! An entry whose container has exited is replaced by the next acquire; its remaining leases
//! still release it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use berth_backend::{Backend, LaunchSpec, NodeProcess};
use berth_transport::{
    ChannelName, ChannelRole, FrameKind, FrameReceiver, FrameSender, FrameSenderExt, SessionId,
    SessionTransport, Transport, TransportConfig, monotonic_ns,
};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::SessionError;
use crate::network::SharedNetwork;
use crate::owner::OwnerLock;
use crate::runner_spec::{RunnerSpec, ServeSpec};

/// How long a shared runner may take to stop once its command channel is closed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// How often the reply reader looks for a close request when no reply comes.
const REPLY_POLL: Duration = Duration::from_millis(100);

/// What makes two container nodes interchangeable: everything about the container, and the
/// node type. `params` are per session, so they are not part of it.
pub(crate) fn node_key(container: &LaunchSpec, node_type: &str) -> String {
    let canonical = format!(
        "{node_type}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        container.image,
        container.network,
        container.env,
        container.mounts,
        container.limits,
        container.cpuset,
        container.realtime,
        container.labels,
        container.working_dir,
    );
    let mut key = format!("{:x}", Sha256::digest(canonical.as_bytes()));
    key.truncate(16);
    key
}

/// A command to a shared runner, on `P_serve_input` (docs/PROTOCOL.md "Shared runners").
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServeCommand<'a> {
    /// Start a node instance with this runner spec.
    Attach {
        instance: &'a str,
        spec: &'a RunnerSpec,
    },
    /// Stop that instance.
    Detach { instance: &'a str },
}

/// Every shared container of one runtime.
#[derive(Default)]
pub(crate) struct NodePool {
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    /// Set by `shutdown`: no container starts any more.
    closed: AtomicBool,
    /// The network namespace the runtime's containers without network join.
    pub(crate) network: SharedNetwork,
    /// Session and warm starts under way ([`NodePool::starting`]).
    starts: AtomicUsize,
}

/// A session or warm start under way in a pool; the last to end starts the network holder, if a
/// container wanted one ([`SharedNetwork::start_wanted`]): a holder started while containers
/// still start slows them more than it saves.
pub(crate) struct Starting(Arc<NodePool>);

impl Drop for Starting {
    fn drop(&mut self) {
        if self.0.starts.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.network.start_wanted();
        }
    }
}

/// One shared container, from before it starts until its last lease is gone.
struct Entry {
    key: String,
    /// Leases on it; changed only under the pool's lock.
    leases: AtomicUsize,
    /// How many of them are a runtime's warm holds (no node instance).
    warm: AtomicUsize,
    node: tokio::sync::OnceCell<Arc<SharedNode>>,
}

/// What starting a shared container needs.
#[derive(Clone)]
pub(crate) struct StartShared {
    /// The backend that runs it.
    pub(crate) backend: Arc<dyn Backend>,
    /// The container, without owner or command ([`crate::python::container_spec`]).
    pub(crate) container: LaunchSpec,
    /// The transport its channels use.
    pub(crate) transport: Arc<dyn Transport>,
    /// Their sizes.
    pub(crate) config: TransportConfig,
    /// How long it may take to say it is ready.
    pub(crate) ready_timeout: Duration,
}

/// A shared container as its sessions see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedNodeInfo {
    /// What its nodes have in common (a hash of the container and the node type).
    pub key: String,
    /// Its own id: its label, channel prefix and owner file.
    pub owner_id: String,
    /// The backend's id for it (the container id).
    pub id: String,
    /// How many leases it has: one per node instance of a session, one per warm hold
    /// ([`Runtime::warm`](crate::Runtime::warm)).
    pub leases: usize,
    /// How many of those are warm holds.
    pub warm: usize,
}

impl NodePool {
    /// Marks a session or warm start under way until the returned value is dropped.
    pub(crate) fn starting(self: &Arc<Self>) -> Starting {
        self.starts.fetch_add(1, Ordering::SeqCst);
        Starting(Arc::clone(self))
    }

    /// A pool whose containers each get a network namespace of their own.
    pub(crate) fn without_shared_network() -> Self {
        Self {
            network: SharedNetwork::off(),
            ..Self::default()
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A lease on the shared container for `key`, starting it if no live one exists. Two
    /// acquirers of a new key start one container: the second waits for the first's start.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        key: String,
        instance: String,
        start: StartShared,
    ) -> Result<Lease, SessionError> {
        let entry = {
            let mut entries = self.lock();
            if self.closed.load(Ordering::SeqCst) {
                return Err(SessionError::SharedStopping {
                    owner_id: "(the runtime shut down)".into(),
                });
            }
            let live = entries
                .get(&key)
                .filter(|e| e.node.get().is_none_or(|n| n.process.try_exit().is_none()))
                .cloned();
            let entry = live.unwrap_or_else(|| {
                let fresh = Arc::new(Entry {
                    key: key.clone(),
                    leases: AtomicUsize::new(0),
                    warm: AtomicUsize::new(0),
                    node: tokio::sync::OnceCell::new(),
                });
                entries.insert(key, Arc::clone(&fresh));
                fresh
            });
            entry.leases.fetch_add(1, Ordering::SeqCst);
            entry
        };
        // Until a `Lease` holds it, the count is given back if this future is dropped (a
        // cancelled start or restart), so a container never outlives its last user.
        let mut pending = PendingLease {
            pool: self,
            entry: Some(entry),
        };
        let entry = pending.entry.as_ref().expect("set above");
        match entry
            .node
            .get_or_try_init(|| async {
                let mut start = start;
                start.container = self.network.join(start.container, &start.backend).await;
                SharedNode::start(start).await
            })
            .await
        {
            Ok(node) => {
                let node = Arc::clone(node);
                node.forget(&instance);
                Ok(Lease {
                    pool: Arc::clone(self),
                    node,
                    entry: pending.entry.take().expect("set above"),
                    instance,
                    released: false,
                    warm: false,
                })
            }
            Err(e) => {
                let entry = pending.entry.take().expect("set above");
                if let Some(node) = self.release_entry(&entry, false) {
                    node.stop().await;
                }
                Err(e)
            }
        }
    }

    /// Takes one lease off `entry`; returns its node when that was the last lease, for the
    /// caller to stop. `evict` takes the entry out of the map in the same critical section
    /// whatever the count, so no acquirer joins a container about to be stopped.
    fn release_entry(&self, entry: &Arc<Entry>, evict: bool) -> Option<Arc<SharedNode>> {
        let mut entries = self.lock();
        let left = entry.leases.fetch_sub(1, Ordering::SeqCst) - 1;
        if (left == 0 || evict)
            && entries
                .get(&entry.key)
                .is_some_and(|current| Arc::ptr_eq(current, entry))
        {
            entries.remove(&entry.key);
        }
        if left > 0 && !evict {
            return None;
        }
        entry.node.get().cloned()
    }

    /// The shared containers running now.
    pub(crate) fn list(&self) -> Vec<SharedNodeInfo> {
        let entries = self.lock();
        let mut list: Vec<_> = entries
            .values()
            .filter_map(|e| {
                let node = e.node.get()?;
                Some(SharedNodeInfo {
                    key: e.key.clone(),
                    owner_id: node.owner_id.to_string(),
                    id: node.process.id().to_owned(),
                    leases: e.leases.load(Ordering::SeqCst),
                    warm: e.warm.load(Ordering::SeqCst),
                })
            })
            .collect();
        list.sort_by(|a, b| a.key.cmp(&b.key));
        list
    }

    /// Stops every shared container, leased or not; none starts afterwards.
    pub(crate) async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let nodes: Vec<_> = self
            .lock()
            .drain()
            .filter_map(|(_, e)| e.node.get().cloned())
            .collect();
        futures_util::future::join_all(nodes.iter().map(|n| n.stop())).await;
        self.network.shutdown().await;
    }

    /// Kills every shared container without waiting (for drop paths).
    pub(crate) fn abort(&self) {
        for (_, entry) in self.lock().drain() {
            if let Some(node) = entry.node.get() {
                node.abort();
            }
        }
        self.network.abort();
    }
}

/// An acquire's hold on an entry until its `Lease` exists; dropped early, it gives the count
/// back (and stops the container if that was the last hold).
struct PendingLease<'a> {
    pool: &'a NodePool,
    entry: Option<Arc<Entry>>,
}

impl Drop for PendingLease<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take()
            && let Some(node) = self.pool.release_entry(&entry, false)
        {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(async move { node.stop().await });
                }
                Err(_) => node.abort(),
            }
        }
    }
}

/// How a node instance left its shared runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Detached {
    /// The instance's exit code (0 after a clean stop).
    pub(crate) code: i64,
    /// Why the runner refused or ended it, when it says.
    pub(crate) error: Option<String>,
}

/// A reply of a shared runner (docs/PROTOCOL.md, "Shared runners").
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Reply {
    Ready {},
    Detached {
        instance: String,
        #[serde(default)]
        code: i64,
        #[serde(default)]
        error: Option<String>,
    },
}

#[derive(Default)]
struct Replies {
    ready: bool,
    detached: HashMap<String, Detached>,
}

/// A running shared runner.
pub(crate) struct SharedNode {
    owner_id: SessionId,
    pub(crate) process: Box<dyn NodeProcess>,
    pub(crate) backend: Arc<dyn Backend>,
    transport: Arc<dyn Transport>,
    commands: Mutex<Option<Box<dyn FrameSender>>>,
    replies: Arc<Mutex<Replies>>,
    updates: watch::Receiver<()>,
    closing: Arc<AtomicBool>,
    reader: Mutex<Option<JoinHandle<()>>>,
    channels: Mutex<Option<Box<dyn SessionTransport>>>,
    owner: Mutex<Option<OwnerLock>>,
    stopped: tokio::sync::OnceCell<()>,
}

impl SharedNode {
    /// Opens its channels, starts its container and waits for its `ready`.
    async fn start(start: StartShared) -> Result<Arc<Self>, SessionError> {
        let owner_id = SessionId::random();
        let span = tracing::info_span!("shared_start", owner_id = %owner_id, node_id = %start.container.node_id);
        let _enter = span.enter();
        // Sessions attaching to it later do not ask the daemon (`Session::launch`): this does.
        start.backend.check().await?;
        let mut owner = OwnerLock::acquire(&owner_id)?;
        owner.record_backend(start.backend.name());
        let channels = start.transport.open_session(&owner_id, &start.config)?;
        let commands_channel = ChannelName::new(&owner_id, "serve", ChannelRole::Input)?;
        let replies_channel = ChannelName::new(&owner_id, "serve", ChannelRole::Control)?;
        channels.create_channel(&commands_channel)?;
        channels.create_channel(&replies_channel)?;
        let receiver = channels.receiver(&replies_channel)?;
        let commands = channels.sender(&commands_channel)?;
        let serve = ServeSpec {
            pool_id: owner_id.as_str().to_owned(),
            name: start.container.node_id.clone(),
            commands: commands_channel.as_str().to_owned(),
            control: replies_channel.as_str().to_owned(),
            transport: channels.runner_spec().into_iter().collect(),
        };
        let mut spec = crate::python::owned_by(start.container, &owner_id, owner.path());
        spec.command = vec![
            "python3".into(),
            "-m".into(),
            "berth.runner".into(),
            "--serve".into(),
            serde_json::to_string(&serve).expect("a serve spec is JSON"),
        ];
        drop(_enter);

        let replies = Arc::new(Mutex::new(Replies::default()));
        let (notify, updates) = watch::channel(());
        let closing = Arc::new(AtomicBool::new(false));
        let reader = spawn_reader(receiver, Arc::clone(&replies), notify, Arc::clone(&closing))
            .map_err(|e| SessionError::Internal {
                what: "cannot start a shared runner's reply reader thread",
                detail: e.to_string(),
            })?;
        // A start dropped half-way (a cancelled session start) still ends the reader.
        let mut reader_stop = CloseOnDrop(Some(Arc::clone(&closing)));
        let process = match start.backend.launch(&spec).await {
            Ok(process) => process,
            Err(e) => {
                // The backend removed what it had created; nothing else was started.
                closing.store(true, Ordering::SeqCst);
                let _ = reader.join();
                drop((commands, channels));
                owner.release();
                return Err(e.into());
            }
        };
        reader_stop.0 = None; // from here on the node's own Drop does it
        let node = Arc::new(SharedNode {
            owner_id: owner_id.clone(),
            process,
            backend: Arc::clone(&start.backend),
            transport: Arc::clone(&start.transport),
            commands: Mutex::new(Some(commands)),
            replies: Arc::clone(&replies),
            updates,
            closing,
            reader: Mutex::new(Some(reader)),
            channels: Mutex::new(Some(channels)),
            owner: Mutex::new(Some(owner)),
            stopped: tokio::sync::OnceCell::new(),
        });
        let ready = node
            .process
            .wait_ready(&mut || lock(&replies).ready, start.ready_timeout)
            .await;
        if let Err(e) = ready {
            node.stop().await;
            return Err(e.into());
        }
        tracing::info!(owner_id = %owner_id, container = node.process.id(), "shared runner ready");
        Ok(node)
    }

    /// Sends one command to the runner.
    fn command(&self, command: &ServeCommand<'_>) -> Result<(), SessionError> {
        let mut commands = lock(&self.commands);
        let Some(sender) = commands.as_mut() else {
            return Err(SessionError::SharedStopping {
                owner_id: self.owner_id.to_string(),
            });
        };
        let payload = serde_json::to_vec(command).expect("a command serializes");
        sender.send_bytes(FrameKind::Control, &payload, monotonic_ns())?;
        Ok(())
    }

    /// How `instance` left, if it has.
    fn detached(&self, instance: &str) -> Option<Detached> {
        lock(&self.replies).detached.get(instance).cloned()
    }

    /// Drops what is known of `instance`'s last visit (before it attaches again, or after it
    /// left for good).
    fn forget(&self, instance: &str) {
        lock(&self.replies).detached.remove(instance);
    }

    /// Waits up to `timeout` for `instance` to leave.
    async fn wait_detached(&self, instance: &str, timeout: Duration) -> Option<Detached> {
        let mut updates = self.updates.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            updates.borrow_and_update();
            if let Some(detached) = self.detached(instance) {
                return Some(detached);
            }
            if self.process.try_exit().is_some() {
                return None;
            }
            // A reply wakes this at once; the timeout bounds how late an exit is seen.
            let slice = deadline
                .saturating_duration_since(tokio::time::Instant::now())
                .min(Duration::from_millis(50));
            if slice.is_zero() {
                return None;
            }
            let _ = tokio::time::timeout(slice, updates.changed()).await;
        }
    }

    /// Closes the command channel (the runner stops every instance and exits), stops the
    /// container, removes its channels and checks nothing of it remains. Idempotent.
    pub(crate) async fn stop(&self) {
        self.stopped
            .get_or_init(|| async {
                if let Some(mut commands) = lock(&self.commands).take()
                    && let Err(e) = commands.send_end_of_stream()
                {
                    tracing::debug!(error = %e, "the shared runner did not take the end of its commands");
                }
                // It stops every instance and exits by itself; after the grace it is killed.
                let _ = tokio::time::timeout(STOP_GRACE, self.process.wait()).await;
                if let Err(e) = self.process.stop(Duration::from_millis(500)).await {
                    tracing::warn!(owner_id = %self.owner_id, error = %e, "stopping a shared runner failed");
                }
                self.closing.store(true, Ordering::SeqCst);
                let reader = lock(&self.reader).take();
                if let Some(reader) = reader {
                    // The reader wakes within one poll; join it off the async threads.
                    let _ = tokio::task::spawn_blocking(move || reader.join()).await;
                }
                self.close_channels();
                let mut leftovers = Vec::new();
                if let Ok(found) = self.backend.session_resources(self.owner_id.as_str()).await
                    && !found.is_empty()
                {
                    let _ = self.backend.sweep_session(self.owner_id.as_str()).await;
                    leftovers.extend(found);
                }
                if !self.transport.session_resources(&self.owner_id).is_empty() {
                    let _ = self.transport.sweep_session(&self.owner_id);
                    leftovers.extend(self.transport.session_resources(&self.owner_id));
                }
                if let Some(owner) = lock(&self.owner).take()
                    && leftovers.is_empty()
                {
                    owner.release();
                }
                if leftovers.is_empty() {
                    tracing::info!(owner_id = %self.owner_id, "shared runner stopped");
                } else {
                    tracing::warn!(owner_id = %self.owner_id, ?leftovers, "a shared runner left resources; its owner file stays for a sweep");
                }
            })
            .await;
    }

    /// Ends the reply reader and drops every port and channel of the shared runner.
    fn close_channels(&self) {
        self.closing.store(true, Ordering::SeqCst);
        if let Some(reader) = lock(&self.reader).take() {
            let _ = reader.join();
        }
        lock(&self.commands).take();
        lock(&self.channels).take();
    }

    /// Kills the container without waiting and drops its channels (for drop paths).
    fn abort(&self) {
        self.process.abort();
        self.close_channels();
        let _ = self.transport.sweep_session(&self.owner_id);
    }
}

/// Sets its flag when dropped, unless emptied first.
struct CloseOnDrop(Option<Arc<AtomicBool>>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(flag) = self.0.take() {
            flag.store(true, Ordering::SeqCst);
        }
    }
}

impl Drop for SharedNode {
    fn drop(&mut self) {
        // However it ends (even a start dropped half-way), its reply reader ends too.
        self.closing.store(true, Ordering::SeqCst);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A thread that reads the runner's replies (event-woken) until `closing`.
fn spawn_reader(
    mut receiver: Box<dyn FrameReceiver>,
    replies: Arc<Mutex<Replies>>,
    notify: watch::Sender<()>,
    closing: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("berth-shared-replies".into())
        .spawn(move || {
            while !closing.load(Ordering::SeqCst) {
                let mut reply = None;
                match receiver.receive_with(REPLY_POLL, &mut |header, payload| {
                    if !header.is_end_of_stream() {
                        reply = Some(serde_json::from_slice::<Reply>(payload));
                    }
                }) {
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a shared runner's replies failed");
                        std::thread::sleep(REPLY_POLL);
                        continue;
                    }
                }
                match reply {
                    Some(Ok(Reply::Ready {})) => lock(&replies).ready = true,
                    Some(Ok(Reply::Detached {
                        instance,
                        code,
                        error,
                    })) => {
                        lock(&replies)
                            .detached
                            .insert(instance, Detached { code, error });
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "unreadable reply from a shared runner");
                        continue;
                    }
                    None => continue,
                }
                notify.send_replace(());
            }
        })
}

/// A session's hold on a shared container, for one node instance. Releasing the last lease of
/// a container stops it.
pub(crate) struct Lease {
    pool: Arc<NodePool>,
    entry: Arc<Entry>,
    node: Arc<SharedNode>,
    instance: String,
    released: bool,
    /// A warm hold (counted in `Entry::warm`).
    warm: bool,
}

impl Lease {
    /// The shared runner.
    pub(crate) fn node(&self) -> &SharedNode {
        &self.node
    }

    /// How many sessions' node instances the container serves now (warm holds aside).
    pub(crate) fn sharers(&self) -> usize {
        let leases = self.entry.leases.load(Ordering::SeqCst);
        leases.saturating_sub(self.entry.warm.load(Ordering::SeqCst))
    }

    /// Makes this lease a warm hold ([`Runtime::warm`](crate::Runtime::warm)): it keeps the
    /// container running but serves no session, so it is not counted as a sharer.
    pub(crate) fn into_warm_hold(mut self) -> Self {
        self.warm = true;
        self.entry.warm.fetch_add(1, Ordering::SeqCst);
        self
    }

    /// Starts this lease's node instance with `spec` (the runner spec of docs/PROTOCOL.md).
    pub(crate) fn attach(&self, spec: &RunnerSpec) -> Result<(), SessionError> {
        self.node.command(&ServeCommand::Attach {
            instance: &self.instance,
            spec,
        })
    }

    /// How the instance left, if it has.
    pub(crate) fn detached(&self) -> Option<Detached> {
        self.node.detached(&self.instance)
    }

    /// Asks the instance to stop (its session ends) and waits up to `timeout` for it to
    /// close its ports; true when it did.
    pub(crate) async fn detach(&self, timeout: Duration) -> bool {
        if self.detached().is_some() {
            return true;
        }
        if self.node.process.try_exit().is_some() {
            return true;
        }
        let asked = self.node.command(&ServeCommand::Detach {
            instance: &self.instance,
        });
        if let Err(e) = asked {
            tracing::debug!(error = %e, "detach not delivered");
        }
        self.node
            .wait_detached(&self.instance, timeout)
            .await
            .is_some()
            || self.node.process.try_exit().is_some()
    }

    /// Gives the lease back; the last one stops the container. `failed`: the instance did not
    /// leave (e.g. stuck in `process()`), so the container cannot be trusted with other
    /// sessions' channels and is stopped now.
    pub(crate) async fn release(mut self, failed: bool) {
        self.released = true;
        self.end_warm_hold();
        self.node.forget(&self.instance);
        // A failed instance takes the container out of the map in the same step, so no new
        // session joins it; the sessions still on it see it exit.
        if let Some(node) = self.pool.release_entry(&self.entry, failed) {
            node.stop().await;
        }
    }
}

impl Lease {
    fn end_warm_hold(&mut self) {
        if std::mem::take(&mut self.warm) {
            self.entry.warm.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.end_warm_hold();
        // Dropped without `release()` (a session dropped without `stop()`): ask the instance
        // to leave, and kill the container if this was its last lease.
        let _ = self.node.command(&ServeCommand::Detach {
            instance: &self.instance,
        });
        self.node.forget(&self.instance);
        if let Some(node) = self.pool.release_entry(&self.entry, false) {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => {
                    handle.spawn(async move { node.stop().await });
                }
                Err(_) => node.abort(),
            }
        }
    }
}
