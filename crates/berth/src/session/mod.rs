//! A running pipeline: start every node, move frames, watch health, stop and clean up.
//!
//! By job: [`launch`] starts the nodes and waits until each is ready, [`io`] moves frames,
//! [`supervise`] turns control messages and exits into errors (and restarts), [`teardown`]
//! stops everything and checks that nothing remains.

mod flow;
mod io;
mod launch;
mod reply;
mod supervise;
mod teardown;

pub(crate) use launch::{checked_backend, node_image, shared_container};

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_backend::{Backend, NodeProcess, Realtime, backend_by_name};
use berth_manifest::{Executor, Manifest, RestartPolicy};
use berth_resources::Usage;
use berth_transport::{
    FrameHeader, FrameKind, FrameReceiver, FrameSender, FrameSenderExt, SessionId,
    SessionTransport, Transport, TransportConfig, audio_samples, monotonic_ns,
};
use tracing::Instrument;

use crate::control::{ControlMessage, RunnerStats};
use crate::native::{create_native, native_node_types, spawn_native};
use crate::owner::OwnerLock;
use crate::plan::Plan;
use crate::pool::{Lease, NodePool, StartShared};
use crate::{SessionError, images::ImageProvider, python};

/// How a session runs.
#[derive(Clone)]
pub struct SessionOptions {
    /// The transport; `None` uses [`recommended::transport`](crate::recommended::transport).
    pub transport: Option<Arc<dyn Transport>>,
    /// Queue depth, frame size, send timeout and spin.
    pub transport_config: TransportConfig,
    /// How long every node together may take to say it is ready.
    pub ready_timeout: Duration,
    /// How long a node may take to stop on its own before it is killed.
    pub stop_grace: Duration,
    /// The Python interpreter for host-process nodes; `None` uses `$BERTH_PYTHON`, else a
    /// virtualenv Berth makes once (see [`crate::host_python`]).
    pub python: Option<String>,
    /// Resolves the image of each container node; `None` uses [`ImageProvider::standard`].
    pub images: Option<Arc<dyn ImageProvider>>,
    /// Session id to use instead of a random one.
    pub session_id: Option<SessionId>,
    /// Pin every out-of-process node to these CPUs (e.g. `"0"`); pair it with
    /// [`pin_current_thread`](crate::pin_current_thread) on the thread that sends and receives,
    /// so a wake-up does not cross CPUs.
    pub cpuset: Option<String>,
    /// Real-time scheduling (`SCHED_FIFO`) for the thread that runs each node in a runner
    /// (container and host-process nodes; native nodes keep the ordinary policy), for frames
    /// that must not wait behind other programs' threads on a busy machine; pair it with
    /// [`set_current_thread_realtime`](crate::set_current_thread_realtime) at the same priority
    /// on the thread that sends and receives. A container needs the container engine's
    /// real-time budget where the kernel budgets real-time threads by cgroup
    /// ([`Realtime::budget`]); a host process needs `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` that
    /// allows the priority (and there, a budget for its own cgroup).
    pub realtime: Option<Realtime>,
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            transport: None,
            transport_config: TransportConfig::default(),
            ready_timeout: Duration::from_secs(60),
            stop_grace: Duration::from_secs(5),
            python: None,
            images: None,
            session_id: None,
            cpuset: None,
            realtime: None,
        }
    }
}

impl SessionOptions {
    /// Checks [`SessionOptions::realtime`] before anything starts.
    pub(crate) fn check_realtime(&self) -> Result<(), SessionError> {
        self.realtime.map_or(Ok(()), crate::check_realtime)
    }

    /// The transport these options name, else [`recommended::transport`](crate::recommended::transport).
    pub(crate) fn transport_or_default(&self) -> Result<Arc<dyn Transport>, SessionError> {
        match &self.transport {
            Some(t) => Ok(Arc::clone(t)),
            None => crate::recommended::transport(),
        }
    }
}

/// Counters of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Frames sent into the pipeline.
    pub sent: u64,
    /// Frames received from the pipeline.
    pub received: u64,
    /// Frames known to be lost anywhere in the pipeline (always 0 unless something is wrong).
    pub lost: u64,
    /// Frames a node raised on.
    pub node_errors: u64,
    /// Times a node's runner was restarted after it died.
    pub restarts: u64,
    /// Outputs that arrived after [`Session::stop`] began, discarded unread.
    pub drained: u64,
}

/// One output frame, read in place in shared memory.
#[derive(Clone, Copy, Debug)]
pub struct Output<'a> {
    /// The node that produced it.
    pub node_id: &'a str,
    /// Its header.
    pub header: &'a FrameHeader,
    /// Its payload.
    pub payload: &'a [u8],
}

impl Output<'_> {
    /// The samples of an audio frame.
    pub fn audio(&self) -> Option<&[f32]> {
        (self.header.frame_kind() == Some(FrameKind::Audio))
            .then(|| audio_samples(self.payload))
            .flatten()
    }

    /// The text of a text or JSON frame.
    pub fn text(&self) -> Option<&str> {
        matches!(
            self.header.frame_kind(),
            Some(FrameKind::Text | FrameKind::Json)
        )
        .then(|| std::str::from_utf8(self.payload).ok())
        .flatten()
    }

    /// Nanoseconds since the originating input frame was sent.
    pub fn latency_ns(&self) -> u64 {
        monotonic_ns().saturating_sub(self.header.timestamp_ns)
    }
}

struct Control {
    node_id: String,
    /// The node's position in the plan.
    index: usize,
    receiver: Box<dyn FrameReceiver>,
    ready: bool,
    stopped: bool,
    /// The runner's latest `stats`.
    stats: Option<RunnerStats>,
}

/// What serves a node of the session.
enum Serving {
    /// A runner of its own (a container or a process).
    Own(Box<dyn NodeProcess>),
    /// An instance in a container shared with other sessions of the runtime.
    Shared(Lease),
}

/// How to start a node's runner again.
#[derive(Clone)]
enum Relaunch {
    /// Launch this spec (joined to the runtime's network namespace, in a runtime).
    Own {
        spec: berth_backend::LaunchSpec,
        pool: Option<Arc<NodePool>>,
    },
    /// Lease a shared container again and attach the same instance.
    Shared {
        pool: Arc<NodePool>,
        key: String,
        instance: String,
        start: StartShared,
        runner: Box<crate::runner_spec::RunnerSpec>,
    },
}

impl Relaunch {
    /// Starts a runner as this says.
    async fn start(self, backend: Arc<dyn Backend>) -> Result<Serving, SessionError> {
        match self {
            Relaunch::Own { spec, pool } => {
                let spec = match pool {
                    Some(pool) => pool.network.join(spec, &backend).await,
                    None => spec,
                };
                Ok(Serving::Own(backend.launch(&spec).await?))
            }
            Relaunch::Shared {
                pool,
                key,
                instance,
                start,
                runner,
            } => {
                // Each attach its own name: what a shared runner says about an earlier
                // instance of this node can never be taken for this one.
                static ATTACHES: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(0);
                let instance = format!("{instance}_{}", ATTACHES.fetch_add(1, Ordering::Relaxed));
                let lease = pool.acquire(key, instance, start).await?;
                lease.attach(&runner)?;
                Ok(Serving::Shared(lease))
            }
        }
    }
}

struct RunningNode {
    node_id: String,
    /// Its position in the plan.
    index: usize,
    serving: Serving,
    backend: Arc<dyn Backend>,
    exit_reported: bool,
    relaunch: Relaunch,
    policy: RestartPolicy,
    /// When it was restarted, within the policy's window.
    restarts: Vec<Instant>,
    /// A restart under way.
    restarting: Option<tokio::task::JoinHandle<Result<Serving, SessionError>>>,
    /// Restarted, and its `ready` not seen yet.
    awaiting_ready: bool,
    /// When its current runner was started.
    started: std::time::SystemTime,
    /// Times it came back after a restart, in all.
    restarted: u64,
}

impl RunningNode {
    /// The process (or container) that runs it.
    fn process(&self) -> &dyn NodeProcess {
        match &self.serving {
            Serving::Own(process) => process.as_ref(),
            Serving::Shared(lease) => lease.node().process.as_ref(),
        }
    }

    /// How many node instances (of every session) its runner serves.
    fn shared_by(&self) -> usize {
        match &self.serving {
            Serving::Own(_) => 1,
            Serving::Shared(lease) => lease.sharers(),
        }
    }

    /// The image it runs in, for a container node.
    fn image(&self) -> Option<&str> {
        match &self.relaunch {
            Relaunch::Own { spec, .. } => spec.image.as_deref(),
            Relaunch::Shared { start, .. } => start.container.image.as_deref(),
        }
    }

    /// The file its output goes to, when its backend keeps no logs of its own.
    fn log_file(&self) -> Option<&std::path::Path> {
        match &self.relaunch {
            Relaunch::Own { spec, .. } => spec.log_file.as_deref(),
            Relaunch::Shared { .. } => None,
        }
    }

    /// Whether it is done with this session: its runner exited, or its shared instance left.
    fn finished(&self) -> bool {
        self.process().try_exit().is_some()
            || matches!(&self.serving, Serving::Shared(lease) if lease.detached().is_some())
    }
}

/// What one node of a session uses now.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeUsage {
    /// The node.
    pub node_id: String,
    /// What was measured (a container's cgroup, a process); empty for a native node, which
    /// runs on the host's own threads.
    pub source: String,
    /// The reading, when there is one.
    pub usage: Option<Usage>,
    /// How many node instances share what was measured (a shared container's totals).
    pub shared_by: usize,
    /// What the node's runner measured of its own work, as of its latest report (with its
    /// `ready`, then about once a second while frames flow, and before its end of stream):
    /// frames, `process()` times, and the CPU time of the node's thread — for a shared
    /// container, this session's share of it. `None` for native nodes.
    pub runner: Option<RunnerStats>,
}

/// Where one node of a session runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node.
    pub node_id: String,
    /// The backend that runs it (`docker`, `process`) or `native`.
    pub backend: &'static str,
    /// What serves it: a container id, a process id, or a host thread.
    pub id: String,
    /// How many node instances (of every session) its container serves; 1 when it is its own.
    pub shared_by: usize,
}

/// A running pipeline.
pub struct Session {
    id: SessionId,
    plan: Plan,
    options: SessionOptions,
    transport: Arc<dyn Transport>,
    channels: Option<Box<dyn SessionTransport>>,
    /// Per pipeline input (in the flow's input order): the senders into the nodes it feeds.
    inputs: Vec<Vec<Box<dyn FrameSender>>>,
    outputs: Vec<(String, Box<dyn FrameReceiver>, bool)>,
    controls: Vec<Control>,
    nodes: Vec<RunningNode>,
    native: Vec<JoinHandle<()>>,
    native_stop: Arc<AtomicBool>,
    pending: VecDeque<SessionError>,
    next_output: usize,
    stats: SessionStats,
    inputs_ended: bool,
    /// Held while the session lives; its nodes stop by themselves when it comes free.
    owner: Option<OwnerLock>,
    torn_down: bool,
    /// The runtime's shared containers, when the session was started from a runtime.
    pool: Option<Arc<NodePool>>,
    /// Frames in flight and lost, for the counts.
    flow: flow::Flow,
    /// Where restarts and clean-ups run.
    handle: tokio::runtime::Handle,
    /// Stops of runners that were replaced by a restart.
    cleanups: Vec<tokio::task::JoinHandle<()>>,
    /// Set once `stop()` began: a node that ends now is not restarted.
    stopping: bool,
    /// Set at teardown: a restart still in its backoff gives up.
    halt: Arc<AtomicBool>,
    /// When control messages and exits were last looked at.
    last_watch: Instant,
    /// How long `recv_with` polls for a reply it expects.
    reply: reply::ReplyWait,
    /// Where `send_audio_with` has a frame filled when it cannot be filled in place (kept
    /// between frames, so it allocates once).
    staged: Vec<f32>,
    /// `recv`'s reactor registrations of the channels' wake-up descriptors (made on first use,
    /// dropped before the channels).
    wakers: Option<Vec<tokio::io::unix::AsyncFd<io::WakeFd>>>,
    /// The manifest's name.
    pipeline: String,
    /// When the session started.
    started: std::time::SystemTime,
    /// When the status file ([`crate::status`]) was last written.
    status_written: Instant,
    /// Something the status file shows changed since then.
    status_dirty: bool,
}

impl Session {
    /// Starts every node of `manifest` and returns once each one said it is ready. Its nodes
    /// are its own; sessions started from a [`Runtime`](crate::Runtime) share containers.
    pub async fn start(manifest: &Manifest, options: SessionOptions) -> Result<Self, SessionError> {
        Self::start_in(manifest, options, None).await
    }

    pub(crate) async fn start_in(
        manifest: &Manifest,
        options: SessionOptions,
        pool: Option<Arc<NodePool>>,
    ) -> Result<Self, SessionError> {
        crate::recommended::link();
        manifest.validate_native_types(&native_node_types())?;
        options.check_realtime()?;
        let id = options.session_id.clone().unwrap_or_else(SessionId::random);
        // Once per process: what sessions of dead owners left behind goes first.
        static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
        SWEPT
            .get_or_init(|| async {
                crate::owner::sweep_orphans().await;
            })
            .await;
        let span =
            tracing::info_span!("session", session_id = %id, pipeline = %manifest.metadata.name);
        let mut session = Self::open(manifest, id, options)?;
        // Until this start ends (either way): see `network`.
        let _starting = pool.as_ref().map(|pool| pool.starting());
        session.pool = pool;
        match session.launch(manifest).instrument(span).await {
            Ok(()) => {
                session.publish_status();
                // `berth ps` sees the session once its start returns.
                let _ = tokio::task::spawn_blocking(crate::status::flush).await;
                Ok(session)
            }
            Err(e) => {
                session.teardown().await;
                Err(e)
            }
        }
    }

    fn open(
        manifest: &Manifest,
        id: SessionId,
        options: SessionOptions,
    ) -> Result<Self, SessionError> {
        let transport = options.transport_or_default()?;
        let plan = Plan::new(manifest, id.clone())?;
        let owner = OwnerLock::acquire(&id)?;
        let channels = transport.open_session(&id, &options.transport_config)?;
        let plan_for_flow = plan.clone();
        let depth = options.transport_config.queue_depth;
        let reply = reply::ReplyWait::new(options.transport_config.reply_spin);
        let mut session = Self {
            id,
            plan,
            options,
            transport,
            channels: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            controls: Vec::new(),
            nodes: Vec::new(),
            native: Vec::new(),
            native_stop: Arc::new(AtomicBool::new(false)),
            pending: VecDeque::new(),
            next_output: 0,
            stats: SessionStats::default(),
            inputs_ended: false,
            owner: Some(owner),
            torn_down: false,
            pool: None,
            flow: flow::Flow::new(&plan_for_flow, depth),
            handle: tokio::runtime::Handle::current(),
            cleanups: Vec::new(),
            stopping: false,
            halt: Arc::new(AtomicBool::new(false)),
            last_watch: Instant::now(),
            reply,
            staged: Vec::new(),
            wakers: None,
            pipeline: manifest.metadata.name.clone(),
            started: std::time::SystemTime::now(),
            status_written: Instant::now(),
            status_dirty: true,
        };
        for channel in session.plan.channels() {
            channels.create_channel(channel)?;
        }
        // Readers first, so no frame is sent before someone listens.
        for (node_id, channel) in &session.plan.outputs {
            session
                .outputs
                .push((node_id.clone(), channels.receiver(channel)?, false));
        }
        for (index, node) in session.plan.nodes.iter().enumerate() {
            session.controls.push(Control {
                node_id: node.spec.id.clone(),
                index,
                receiver: channels.receiver(&node.control)?,
                ready: false,
                stopped: false,
                stats: None,
            });
        }
        // In `plan.inputs` order, which is the flow's input numbering.
        for targets in session.plan.inputs.values() {
            let senders = targets
                .iter()
                .map(|c| channels.sender(c))
                .collect::<Result<_, _>>()?;
            session.inputs.push(senders);
        }
        session.channels = Some(channels);
        Ok(session)
    }

    /// The session id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The channel plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Every node of the plan, upstream first, with what runs it out of process (`None`: a
    /// native node on a host thread).
    fn planned_nodes(&self) -> impl Iterator<Item = (String, Option<&RunningNode>)> {
        self.plan.nodes.iter().map(|planned| {
            let node_id = planned.spec.id.clone();
            let running = self.nodes.iter().find(|n| n.node_id == node_id);
            (node_id, running)
        })
    }

    /// Where each node runs, in manifest order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.planned_nodes()
            .map(|(node_id, running)| match running {
                Some(running) => NodeInfo {
                    node_id,
                    backend: running.backend.name(),
                    id: running.process().id().to_owned(),
                    shared_by: running.shared_by(),
                },
                None => NodeInfo {
                    node_id,
                    backend: "native",
                    id: format!("thread in process {}", std::process::id()),
                    shared_by: 1,
                },
            })
            .collect()
    }

    /// What each node uses now, in manifest order: CPU time, memory and its kernel-recorded
    /// peak, its limit and the charges that hit it, from the node's container cgroup or its
    /// process. A shared container reports its totals (see `shared_by`). Reads a few small
    /// files per node; cheap enough to call every second. Reads pending control messages
    /// first, so each runner's latest report is in (errors they bring come with the next
    /// [`Session::recv`]).
    pub fn usage(&mut self) -> Vec<NodeUsage> {
        self.poll_controls();
        self.planned_nodes()
            .zip(&self.controls)
            .map(|((node_id, running), control)| match running {
                Some(running) => {
                    let sampler = running.process().sampler();
                    NodeUsage {
                        source: sampler.as_ref().map(|s| s.source()).unwrap_or_default(),
                        usage: sampler.and_then(|s| s.sample().ok()),
                        shared_by: running.shared_by(),
                        runner: control.stats,
                        node_id,
                    }
                }
                None => NodeUsage {
                    node_id,
                    source: String::new(),
                    usage: None,
                    shared_by: 1,
                    runner: None,
                },
            })
            .collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// The session as other processes see it ([`crate::status`]).
    pub fn status(&self) -> crate::status::SessionStatus {
        use crate::status::{NodeState, NodeStatus, unix_ms};
        let nodes = self
            .planned_nodes()
            .zip(&self.controls)
            .map(|((node_id, running), control)| match running {
                Some(running) => NodeStatus {
                    node_id,
                    backend: running.backend.name().to_owned(),
                    id: running.process().id().to_owned(),
                    image: running.image().map(str::to_owned),
                    shared: matches!(running.serving, Serving::Shared(_)),
                    state: if control.ready {
                        NodeState::Running
                    } else if running.restarting.is_some()
                        || (running.awaiting_ready && !running.exit_reported)
                    {
                        NodeState::Restarting
                    } else {
                        NodeState::Down
                    },
                    restarts: running.restarted,
                    started_unix_ms: unix_ms(running.started),
                    sampler: running.process().sampler().and_then(|s| s.saved()),
                    runner: control.stats,
                    log_file: running.log_file().map(std::path::Path::to_path_buf),
                },
                None => NodeStatus {
                    node_id,
                    backend: "native".into(),
                    id: format!("thread in process {}", std::process::id()),
                    image: None,
                    shared: false,
                    state: NodeState::Running,
                    restarts: 0,
                    started_unix_ms: unix_ms(self.started),
                    sampler: None,
                    runner: None,
                    log_file: None,
                },
            })
            .collect();
        crate::status::SessionStatus {
            session_id: self.id.to_string(),
            pipeline: self.pipeline.clone(),
            host_pid: std::process::id(),
            started_unix_ms: unix_ms(self.started),
            written_unix_ms: unix_ms(std::time::SystemTime::now()),
            nodes,
        }
    }

    /// Writes the status file for `berth ps` (see [`crate::status`]).
    pub(super) fn publish_status(&mut self) {
        self.status_written = Instant::now();
        self.status_dirty = false;
        if self.torn_down || self.owner.is_none() {
            return;
        }
        crate::status::write_soon(self.status());
    }
}
