//! A running pipeline: start every node, move frames, watch health, stop and clean up.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use berth_backend::{Backend, NodeProcess, backend_by_name};
use berth_manifest::{Executor, Manifest};
use berth_transport::{
    FrameHeader, FrameKind, FrameReceiver, FrameSender, FrameSenderExt, SessionId,
    SessionTransport, Transport, TransportConfig, audio_samples, monotonic_ns, transport_by_name,
};
use tracing::Instrument;

use crate::control::ControlMessage;
use crate::native::{create_native, native_node_types, spawn_native};
use crate::owner::OwnerLock;
use crate::plan::Plan;
use crate::pool::{Lease, NodePool, StartShared};
use crate::{SessionError, images::ImageProvider, python};

/// How a session runs.
#[derive(Clone)]
pub struct SessionOptions {
    /// The transport; `None` uses the registered `iceoryx2` transport.
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
    receiver: Box<dyn FrameReceiver>,
    ready: bool,
    stopped: bool,
}

/// What serves a node of the session.
enum Serving {
    /// A runner of its own (a container or a process).
    Own(Box<dyn NodeProcess>),
    /// An instance in a container shared with other sessions of the runtime.
    Shared(Lease),
}

struct RunningNode {
    node_id: String,
    serving: Serving,
    backend: Arc<dyn Backend>,
    exit_reported: bool,
}

impl RunningNode {
    /// The process (or container) that runs it.
    fn process(&self) -> &dyn NodeProcess {
        match &self.serving {
            Serving::Own(process) => process.as_ref(),
            Serving::Shared(lease) => lease.node().process.as_ref(),
        }
    }

    /// Whether it is done with this session: its runner exited, or its shared instance left.
    fn finished(&self) -> bool {
        self.process().try_exit().is_some()
            || matches!(&self.serving, Serving::Shared(lease) if lease.detached().is_some())
    }
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
    inputs: BTreeMap<String, Vec<Box<dyn FrameSender>>>,
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
        crate::link_default_plugins();
        manifest.validate_native_types(&native_node_types())?;
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
        session.pool = pool;
        match session.launch(manifest).instrument(span).await {
            Ok(()) => Ok(session),
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
        let transport = match &options.transport {
            Some(t) => Arc::clone(t),
            None => transport_by_name("iceoryx2")?,
        };
        let plan = Plan::new(manifest, id.clone())?;
        let owner = OwnerLock::acquire(&id)?;
        let channels = transport.open_session(&id, &options.transport_config)?;
        let mut session = Self {
            id,
            plan,
            options,
            transport,
            channels: None,
            inputs: BTreeMap::new(),
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
        for node in &session.plan.nodes {
            session.controls.push(Control {
                node_id: node.spec.id.clone(),
                receiver: channels.receiver(&node.control)?,
                ready: false,
                stopped: false,
            });
        }
        for (input, targets) in &session.plan.inputs {
            let senders = targets
                .iter()
                .map(|c| channels.sender(c))
                .collect::<Result<_, _>>()?;
            session.inputs.insert(input.clone(), senders);
        }
        session.channels = Some(channels);
        Ok(session)
    }

    async fn launch(&mut self, manifest: &Manifest) -> Result<(), SessionError> {
        let channels = self.channels.as_ref().expect("open");
        let runner_env = channels.runner_env();
        let base_dir = manifest
            .base_dir()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        let python = if self
            .plan
            .nodes
            .iter()
            .any(|n| n.executor == Executor::Process)
        {
            let named = self
                .options
                .python
                .clone()
                .or_else(|| std::env::var("BERTH_PYTHON").ok());
            let python = match named {
                Some(named) => PathBuf::from(named),
                None => crate::host_python::managed(&berth_images::default_cache_dir()).await?,
            };
            crate::host_python::check(&python).await?;
            python.display().to_string()
        } else {
            String::new()
        };
        let mut backends: HashMap<&'static str, Arc<dyn Backend>> = HashMap::new();
        let mut pending: Vec<(Arc<dyn Backend>, berth_backend::LaunchSpec)> = Vec::new();
        let mut shared = Vec::new();
        for node in &self.plan.nodes {
            let node_id = node.spec.id.clone();
            let backend_name = match node.executor {
                Executor::Native => {
                    let native = create_native(
                        &node.spec.node_type,
                        &serde_json::Value::Object(node.spec.params.clone()),
                    )
                    .map_err(|e| SessionError::Setup(format!("node `{node_id}`: {e}")))?;
                    let readers = node
                        .reads
                        .iter()
                        .map(|c| channels.receiver(c))
                        .collect::<Result<_, _>>()?;
                    let handle = spawn_native(
                        node_id.clone(),
                        native,
                        readers,
                        channels.sender(&node.output)?,
                        channels.sender(&node.control)?,
                        Arc::clone(&self.native_stop),
                    )
                    .map_err(|e| {
                        SessionError::Setup(format!(
                            "node `{node_id}`: cannot start its thread: {e}"
                        ))
                    })?;
                    self.native.push(handle);
                    continue;
                }
                Executor::Process => "process",
                Executor::Docker => "docker",
            };
            if !self.transport.crosses_processes() {
                return Err(SessionError::Setup(format!(
                    "node `{node_id}` runs out of process, but the `{}` transport only works within one process; use the iceoryx2 transport",
                    self.transport.name()
                )));
            }
            let backend = match backends.get(backend_name) {
                Some(b) => Arc::clone(b),
                None => {
                    let backend = backend_by_name(backend_name)?;
                    backend.check().await?;
                    backends.insert(backend_name, Arc::clone(&backend));
                    backend
                }
            };
            let image = match (&node.executor, &node.spec.docker) {
                (Executor::Docker, Some(docker)) => {
                    let provider = match &self.options.images {
                        Some(p) => Arc::clone(p),
                        None => crate::images::standard().await?,
                    };
                    Some(provider.image_for(&node_id, docker).await?)
                }
                _ => None,
            };
            if let (Some(pool), Executor::Docker, Some(docker)) =
                (&self.pool, &node.executor, &node.spec.docker)
                && docker.shared
            {
                let container = python::container_spec(node, &base_dir, image)?;
                let mut spec = container.spec;
                spec.cpuset = self.options.cpuset.clone();
                let key = crate::pool::node_key(&spec, &node.spec.node_type);
                let runner = python::runner_spec(
                    node,
                    &self.id,
                    &runner_env,
                    &container.node_dirs,
                    &self.options.transport_config,
                );
                let start = StartShared {
                    backend: Arc::clone(&backend),
                    container: spec,
                    transport: Arc::clone(&self.transport),
                    config: self.options.transport_config.clone(),
                    ready_timeout: self.options.ready_timeout,
                };
                shared.push((
                    Arc::clone(pool),
                    key,
                    format!("{}_{node_id}", self.id),
                    start,
                    runner,
                    backend,
                ));
                continue;
            }
            let launch = python::SessionLaunch {
                session: &self.id,
                runner_env: &runner_env,
                base_dir: &base_dir,
                python: &python,
                owner: self.owner.as_ref().expect("held until teardown").path(),
                config: &self.options.transport_config,
            };
            let spec = python::launch_spec(node, &launch, image)?;
            let mut spec = spec;
            spec.cpuset = self.options.cpuset.clone();
            if let Some(owner) = self.owner.as_mut() {
                owner.record_backend(backend.name());
            }
            pending.push((backend, spec));
        }
        // Every node starts at once: a start is mostly waiting (on the daemon, on exec), so
        // a session of N containers takes about as long to launch as one.
        let mut runners = Vec::new();
        let mut leases = Vec::new();
        for (pool, key, instance, start, runner, backend) in shared {
            runners.push(runner);
            leases.push(async move {
                let node_id = start.container.node_id.clone();
                (node_id, backend, pool.acquire(key, instance, start).await)
            });
        }
        let (launched, leased) = futures_util::future::join(
            futures_util::future::join_all(pending.iter().map(|(b, spec)| b.launch(spec))),
            futures_util::future::join_all(leases),
        )
        .await;
        let mut first_error = None;
        for ((backend, spec), result) in pending.into_iter().zip(launched) {
            match result {
                // Kept even when another failed, so teardown stops it.
                Ok(process) => self.nodes.push(RunningNode {
                    node_id: spec.node_id,
                    serving: Serving::Own(process),
                    backend,
                    exit_reported: false,
                }),
                Err(e) => {
                    first_error.get_or_insert(SessionError::from(e));
                }
            }
        }
        for ((node_id, backend, result), runner) in leased.into_iter().zip(runners) {
            match result {
                Ok(lease) => {
                    let attached = lease.attach(&runner);
                    self.nodes.push(RunningNode {
                        node_id,
                        serving: Serving::Shared(lease),
                        backend,
                        exit_reported: false,
                    });
                    if let Err(e) = attached {
                        first_error.get_or_insert(e);
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        self.wait_until_ready().await
    }

    async fn wait_until_ready(&mut self) -> Result<(), SessionError> {
        let deadline = Instant::now() + self.options.ready_timeout;
        loop {
            self.poll_controls();
            if let Some(err) = self.pending.pop_front() {
                return Err(err);
            }
            if self.controls.iter().all(|c| c.ready) {
                tracing::info!(session_id = %self.id, nodes = self.controls.len(), "every node is ready");
                return Ok(());
            }
            for index in 0..self.nodes.len() {
                let node = &self.nodes[index];
                let node_id = node.node_id.clone();
                let ready = self
                    .controls
                    .iter()
                    .any(|c| c.node_id == node_id && c.ready);
                if ready {
                    continue;
                }
                if let Some(report) = node.process().try_exit() {
                    self.nodes[index].exit_reported = true;
                    // Give the log forwarder a moment to catch the last lines.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Err(SessionError::NodeExited {
                        node_id,
                        report,
                        log_tail: self.nodes[index].process().logs().last_text(20),
                    });
                }
                if let Serving::Shared(lease) = &node.serving
                    && let Some(detached) = lease.detached()
                {
                    // Its `fatal` (sent before it left) says more than the detach does.
                    let log_tail = node.process().logs().last_text(20);
                    self.poll_controls();
                    if let Some(err) = self.pending.pop_front() {
                        return Err(err);
                    }
                    return Err(SessionError::NodeFatal {
                        node_id,
                        stage: "attach".into(),
                        error: detached.error.unwrap_or_else(|| {
                            format!("its instance ended with code {}", detached.code)
                        }),
                        traceback: log_tail.join("\n"),
                    });
                }
            }
            if Instant::now() >= deadline {
                let waiting: Vec<_> = self
                    .controls
                    .iter()
                    .filter(|c| !c.ready)
                    .map(|c| c.node_id.clone())
                    .collect();
                let tails: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| waiting.contains(&n.node_id))
                    .flat_map(|n| n.process().logs().last_text(10))
                    .collect();
                return Err(SessionError::Setup(format!(
                    "nodes {} were not ready within {:?}; fix: check their output below, or raise the ready timeout\n    {}",
                    waiting.join(", "),
                    self.options.ready_timeout,
                    tails.join("\n    ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// The session id.
    pub fn id(&self) -> &SessionId {
        &self.id
    }

    /// The channel plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Where each node runs, in manifest order.
    pub fn nodes(&self) -> Vec<NodeInfo> {
        self.plan
            .nodes
            .iter()
            .map(|planned| {
                let node_id = planned.spec.id.clone();
                match self.nodes.iter().find(|n| n.node_id == node_id) {
                    Some(running) => NodeInfo {
                        node_id,
                        backend: running.backend.name(),
                        id: running.process().id().to_owned(),
                        shared_by: match &running.serving {
                            Serving::Own(_) => 1,
                            Serving::Shared(lease) => lease.sharers(),
                        },
                    },
                    None => NodeInfo {
                        node_id,
                        backend: "native",
                        id: format!("thread in process {}", std::process::id()),
                        shared_by: 1,
                    },
                }
            })
            .collect()
    }

    /// Counters so far.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Sends interleaved f32 audio into pipeline input `input`, written straight into shared
    /// memory. Returns the frame's sequence number.
    pub fn send_audio(
        &mut self,
        input: &str,
        samples: &[f32],
        sample_rate: u32,
        channels: u32,
    ) -> Result<u64, SessionError> {
        self.send_audio_at(input, samples, sample_rate, channels, monotonic_ns())
    }

    /// [`Session::send_audio`] with the caller's timestamp (`CLOCK_MONOTONIC` ns, e.g. when the
    /// audio was captured). Nodes copy it to what they make of the frame, so
    /// [`Output::latency_ns`] counts from it and callers can trace outputs back to inputs.
    pub fn send_audio_at(
        &mut self,
        input: &str,
        samples: &[f32],
        sample_rate: u32,
        channels: u32,
        timestamp_ns: u64,
    ) -> Result<u64, SessionError> {
        self.send_each(input, |sender| {
            sender.send_audio(samples, sample_rate, channels, timestamp_ns)
        })
    }

    /// Sends a text, JSON or bytes frame into pipeline input `input`.
    pub fn send_bytes(
        &mut self,
        input: &str,
        kind: FrameKind,
        bytes: &[u8],
    ) -> Result<u64, SessionError> {
        let timestamp = monotonic_ns();
        self.send_each(input, |sender| sender.send_bytes(kind, bytes, timestamp))
    }

    fn send_each(
        &mut self,
        input: &str,
        mut send: impl FnMut(&mut dyn FrameSender) -> Result<u64, berth_transport::TransportError>,
    ) -> Result<u64, SessionError> {
        let Some(senders) = self.inputs.get_mut(input) else {
            return Err(SessionError::UnknownEndpoint {
                what: "input",
                name: input.to_owned(),
                known: self
                    .plan
                    .inputs
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        let mut sequence = 0;
        for sender in senders.iter_mut() {
            sequence = send(sender.as_mut())?;
        }
        self.stats.sent += 1;
        Ok(sequence)
    }

    /// Sends end-of-stream into every pipeline input: each node finishes what it has, passes
    /// the end downstream and exits. Outputs keep arriving until [`Session::outputs_ended`].
    pub fn end_inputs(&mut self) {
        if std::mem::replace(&mut self.inputs_ended, true) {
            return;
        }
        for senders in self.inputs.values_mut() {
            for sender in senders.iter_mut() {
                if let Err(e) = sender.send_end_of_stream() {
                    tracing::debug!(error = %e, "end of stream not delivered; the node will be stopped");
                }
            }
        }
    }

    /// Whether every pipeline output has delivered its end-of-stream.
    pub fn outputs_ended(&self) -> bool {
        self.outputs.iter().all(|(_, _, ended)| *ended)
    }

    /// Waits up to `timeout` for the next output frame and lets `read` see it in place.
    /// Returns `Ok(None)` on timeout, and the first node error or crash as `Err` (a node that
    /// raised goes on; a crashed node does not).
    pub fn recv_with<R>(
        &mut self,
        timeout: Duration,
        mut read: impl FnMut(Output<'_>) -> R,
    ) -> Result<Option<R>, SessionError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(err) = self.pending.pop_front() {
                return Err(err);
            }
            let count = self.outputs.len();
            let slice = if count == 1 {
                Duration::from_millis(20)
            } else {
                Duration::ZERO
            };
            let slice = slice.min(deadline.saturating_duration_since(Instant::now()));
            for i in 0..count {
                let index = (self.next_output + i) % count;
                let (node_id, receiver, ended) = &mut self.outputs[index];
                if *ended {
                    continue;
                }
                let mut result = None;
                let mut end = false;
                let delivery = receiver.receive_with(slice, &mut |header, payload| {
                    if header.is_end_of_stream() {
                        end = true;
                    } else {
                        result = Some(read(Output {
                            node_id,
                            header,
                            payload,
                        }));
                    }
                })?;
                *ended |= end;
                if let Some(delivery) = delivery
                    && delivery.lost_before > 0
                {
                    self.stats.lost += delivery.lost_before;
                    tracing::warn!(node_id = %node_id, lost = delivery.lost_before, "output frames lost");
                }
                if let Some(result) = result {
                    self.next_output = (index + 1) % count;
                    self.stats.received += 1;
                    return Ok(Some(result));
                }
            }
            self.poll_controls();
            self.poll_exits();
            if self.pending.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
            if count != 1 && self.pending.is_empty() {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Reads every pending control message; errors become pending session errors.
    fn poll_controls(&mut self) {
        for control in &mut self.controls {
            loop {
                let mut message = None;
                let node_id = control.node_id.as_str();
                match control
                    .receiver
                    .receive_with(Duration::ZERO, &mut |_, payload| {
                        message = ControlMessage::parse(node_id, payload);
                    }) {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(e) => {
                        self.pending.push_back(e.into());
                        break;
                    }
                }
                match message {
                    Some(ControlMessage::Ready { .. }) => control.ready = true,
                    Some(ControlMessage::Stopped { .. }) => control.stopped = true,
                    Some(ControlMessage::Error {
                        sequence,
                        error,
                        traceback,
                    }) => {
                        self.stats.node_errors += 1;
                        self.pending.push_back(SessionError::NodeRaised {
                            node_id: control.node_id.clone(),
                            sequence,
                            error,
                            traceback,
                        });
                    }
                    Some(ControlMessage::Fatal {
                        stage,
                        error,
                        traceback,
                    }) => {
                        self.pending.push_back(SessionError::NodeFatal {
                            node_id: control.node_id.clone(),
                            stage,
                            error,
                            traceback,
                        });
                    }
                    Some(ControlMessage::Lost {
                        input,
                        expected,
                        got,
                    }) => {
                        self.stats.lost += got.saturating_sub(expected);
                        tracing::warn!(node_id = %control.node_id, %input, expected, got, "node saw lost frames");
                    }
                    None => {}
                }
            }
        }
    }

    /// Turns a node that ended while the session runs into a pending error (once per node).
    fn poll_exits(&mut self) {
        for node in &mut self.nodes {
            if node.exit_reported {
                continue;
            }
            if let Some(report) = node.process().try_exit() {
                node.exit_reported = true;
                let node_id = node.node_id.clone();
                let stopped_cleanly = report.success()
                    && self
                        .controls
                        .iter()
                        .any(|c| c.node_id == node_id && c.stopped);
                if !stopped_cleanly {
                    tracing::error!(session_id = %self.id, node_id = %node_id, %report, "node stopped unexpectedly");
                    self.pending.push_back(SessionError::NodeExited {
                        node_id,
                        report,
                        log_tail: node.process().logs().last_text(20),
                    });
                }
            }
        }
    }

    /// Ends the session: end-of-stream into every input, a grace period for nodes to drain and
    /// exit, then kill what is left, remove every channel and check that nothing remains.
    pub async fn stop(mut self) -> Result<SessionStats, SessionError> {
        let span = tracing::info_span!("stop", session_id = %self.id);
        async {
            self.end_inputs();
            let deadline = Instant::now() + self.options.stop_grace;
            while Instant::now() < deadline && self.nodes.iter().any(|n| !n.finished()) {
                // Keep outputs flowing, so nodes blocked on a full queue can finish.
                for (_, receiver, _) in &mut self.outputs {
                    while let Ok(Some(_)) = receiver.receive_with(Duration::ZERO, &mut |_, _| {}) {}
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.poll_controls();
        }
        .instrument(span)
        .await;
        let stats = self.stats;
        let leftovers = self.teardown().await;
        if !leftovers.is_empty() {
            return Err(SessionError::Setup(format!(
                "session {} left resources behind: {}",
                self.id,
                leftovers.join(", ")
            )));
        }
        Ok(stats)
    }

    /// Stops every node, removes every channel, sweeps; returns what could not be removed.
    async fn teardown(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        let grace = Duration::from_millis(500);
        let mut backends: Vec<Arc<dyn Backend>> = Vec::new();
        let nodes: Vec<RunningNode> = self.nodes.drain(..).collect();
        // All at once, like the launch: each stop is mostly waiting for the node to exit.
        let stopped = futures_util::future::join_all(nodes.into_iter().map(|node| async move {
            let RunningNode {
                node_id,
                serving,
                backend,
                ..
            } = node;
            match serving {
                Serving::Own(process) => {
                    if let Err(e) = process.stop(grace).await {
                        tracing::warn!(node_id, error = %e, "stopping a node failed");
                    }
                }
                Serving::Shared(lease) => {
                    let left = lease.detach(grace).await;
                    if !left {
                        tracing::warn!(node_id, "its instance did not leave its shared container; stopping the container");
                    }
                    lease.release(!left).await;
                }
            }
            backend
        }))
        .await;
        for backend in stopped {
            if !backends.iter().any(|b| b.name() == backend.name()) {
                backends.push(backend);
            }
        }
        self.release_channels();
        let mut leftovers = Vec::new();
        for backend in &backends {
            if let Ok(found) = backend.session_resources(self.id.as_str()).await
                && !found.is_empty()
            {
                tracing::warn!(?found, "sweeping leftover nodes");
                let _ = backend.sweep_session(self.id.as_str()).await;
                leftovers.extend(
                    backend
                        .session_resources(self.id.as_str())
                        .await
                        .unwrap_or_default(),
                );
            }
        }
        if !self.transport.session_resources(&self.id).is_empty() {
            let _ = self.transport.sweep_session(&self.id);
            leftovers.extend(self.transport.session_resources(&self.id));
        }
        // Only now, with every node stopped, is the session's owner lock let go; if something
        // is left, its file stays for a later sweep.
        if let Some(owner) = self.owner.take()
            && leftovers.is_empty()
        {
            owner.release();
        }
        let seen: HashSet<_> = leftovers.drain(..).collect();
        seen.into_iter().collect()
    }
}

impl Session {
    /// Ends the native node threads and drops every port and channel of the session.
    fn release_channels(&mut self) {
        self.native_stop.store(true, Ordering::Relaxed);
        for handle in self.native.drain(..) {
            let _ = handle.join();
        }
        self.inputs.clear();
        self.outputs.clear();
        self.controls.clear();
        self.channels = None;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        // Dropped without `stop()`: kill everything now, then remove the channels.
        for node in &self.nodes {
            if let Serving::Own(process) = &node.serving {
                process.abort();
            }
        }
        // A lease dropped without release asks its instance to leave.
        self.nodes.clear();
        self.release_channels();
        let _ = self.transport.sweep_session(&self.id);
    }
}
