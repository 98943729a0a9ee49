//! Starting a session's nodes: native threads, own runners and shared-container leases, all at once; then waiting until every node said it is ready.

use std::path::Path;

use super::*;
use crate::plan::PlannedNode;

impl Session {
    pub(super) async fn launch(&mut self, manifest: &Manifest) -> Result<(), SessionError> {
        let channels = self.channels.as_ref().expect("open");
        let runner_fields = channels.runner_spec();
        let shared_paths = self.transport.shared_paths();
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
            // A build without host processes says so before it sets up a Python for them.
            if let Some(missing) = crate::recommended::not_built("process") {
                return Err(missing);
            }
            let python = match self.options.python.clone() {
                Some(named) => PathBuf::from(named),
                None => crate::host_python::interpreter().await?,
            };
            crate::host_python::check(&python).await?;
            python.display().to_string()
        } else {
            String::new()
        };
        let mut backends: HashMap<&'static str, Arc<dyn Backend>> = HashMap::new();
        let mut checked: HashSet<&'static str> = HashSet::new();
        let mut pending: Vec<(usize, Relaunch, Arc<dyn Backend>)> = Vec::new();
        for (index, node) in self.plan.nodes.iter().enumerate() {
            let node_id = node.spec.id.clone();
            let backend_name = match node.executor {
                Executor::Native => {
                    let native = create_native(
                        &node.spec.node_type,
                        &serde_json::Value::Object(node.spec.params.clone()),
                    )
                    .map_err(|problem| SessionError::NativeNode {
                        node_id: node_id.clone(),
                        problem,
                    })?;
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
                    .map_err(|e| SessionError::NativeNode {
                        node_id: node_id.clone(),
                        problem: format!("cannot start its thread: {e}"),
                    })?;
                    self.native.push(handle);
                    continue;
                }
                Executor::Process => "process",
                Executor::Docker => "docker",
            };
            if !self.transport.crosses_processes() {
                return Err(SessionError::InProcessTransport {
                    node_id,
                    transport: self.transport.name(),
                });
            }
            let shared = self.pool.is_some()
                && node.executor == Executor::Docker
                && node.spec.docker.as_ref().is_some_and(|d| d.shared);
            let backend = match backends.get(backend_name) {
                Some(b) => Arc::clone(b),
                None => {
                    let backend = named_backend(backend_name)?;
                    backends.insert(backend_name, Arc::clone(&backend));
                    backend
                }
            };
            // A node of its own is launched here, so the backend must answer first; a shared
            // one attaches to a runtime's container, and only starting one asks the daemon
            // (`SharedNode::start`), so a warm attach costs no round trip to it.
            if !shared && checked.insert(backend_name) {
                backend.check().await?;
            }
            let image = node_image(node, &self.options).await?;
            if let Some(pool) = self.pool.as_ref().filter(|_| shared) {
                let (key, start, node_dirs) = shared_container(
                    node,
                    &base_dir,
                    image,
                    &shared_paths,
                    &self.options,
                    &backend,
                    &self.transport,
                )?;
                let runner = python::runner_spec(
                    node,
                    &self.id,
                    &runner_fields,
                    &node_dirs,
                    &self.options.transport_config,
                    self.options.realtime,
                );
                let relaunch = Relaunch::Shared {
                    pool: Arc::clone(pool),
                    key,
                    instance: format!("{}_{node_id}", self.id),
                    start,
                    runner: Box::new(runner),
                };
                pending.push((index, relaunch, backend));
                continue;
            }
            let launch = python::SessionLaunch {
                session: &self.id,
                runner_fields: &runner_fields,
                shared_paths: &shared_paths,
                base_dir: &base_dir,
                python: &python,
                owner: self.owner.as_ref().expect("held until teardown").path(),
                config: &self.options.transport_config,
                realtime: self.options.realtime,
            };
            let mut spec = python::launch_spec(node, &launch, image)?;
            spec.cpuset = self.options.cpuset.clone();
            if node.executor == Executor::Process {
                spec.log_file =
                    Some(crate::status::logs_dir(self.id.as_str()).join(format!("{node_id}.log")));
            }
            if let Some(owner) = self.owner.as_mut() {
                owner.record_backend(backend.name());
            }
            let relaunch = Relaunch::Own {
                spec,
                pool: self.pool.clone(),
            };
            pending.push((index, relaunch, backend));
        }
        // Every node starts at once: a start is mostly waiting (on the daemon, on exec), so
        // a session of N containers takes about as long to launch as one.
        let launched = futures_util::future::join_all(
            pending
                .iter()
                .map(|(_, relaunch, backend)| relaunch.clone().start(Arc::clone(backend))),
        )
        .await;
        let mut first_error = None;
        for ((index, relaunch, backend), result) in pending.into_iter().zip(launched) {
            match result {
                // Kept even when another failed, so teardown stops it.
                Ok(serving) => {
                    let spec = &self.plan.nodes[index].spec;
                    self.nodes.push(RunningNode {
                        node_id: spec.id.clone(),
                        index,
                        serving,
                        backend,
                        exit_reported: false,
                        relaunch,
                        policy: spec.restart.clone(),
                        restarts: Vec::new(),
                        restarting: None,
                        awaiting_ready: false,
                        started: std::time::SystemTime::now(),
                        restarted: 0,
                    });
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

    pub(super) async fn wait_until_ready(&mut self) -> Result<(), SessionError> {
        let deadline = Instant::now() + self.options.ready_timeout;
        loop {
            // Wake-ups are taken before looking, so a `ready` that lands after the look still
            // ends the wait below.
            self.clear_wakes();
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
                        report: Box::new(report),
                        log_tail: self.nodes[index].process().logs().last_text(20),
                        restart_in: None,
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
                let log_tail: Vec<String> = self
                    .nodes
                    .iter()
                    .filter(|n| waiting.contains(&n.node_id))
                    .flat_map(|n| n.process().logs().last_text(10))
                    .collect();
                return Err(SessionError::ReadyTimeout {
                    waiting,
                    timeout: self.options.ready_timeout,
                    log_tail,
                });
            }
            if self.nodes.is_empty() {
                // Native nodes alone: nothing was launched, so the runtime may have no IO
                // driver to wait on wake-ups with.
                tokio::time::sleep(Duration::from_millis(1)).await;
            } else {
                // Launching needed the IO driver. Exits and detaches are looked at every few
                // milliseconds.
                self.woken(Duration::from_millis(5)).await;
            }
        }
    }
}

/// The backend registered as `name`, once it answered (`Backend::check`).
pub(crate) async fn checked_backend(name: &'static str) -> Result<Arc<dyn Backend>, SessionError> {
    let backend = named_backend(name)?;
    backend.check().await?;
    Ok(backend)
}

/// The backend registered as `name`, not asked anything yet.
fn named_backend(name: &'static str) -> Result<Arc<dyn Backend>, SessionError> {
    backend_by_name(name).map_err(|e| crate::recommended::not_built(name).unwrap_or(e.into()))
}

/// The image a container node runs in (built if missing); `None` for other nodes.
pub(crate) async fn node_image(
    node: &PlannedNode,
    options: &SessionOptions,
) -> Result<Option<String>, SessionError> {
    let (Executor::Docker, Some(docker)) = (&node.executor, &node.spec.docker) else {
        return Ok(None);
    };
    let provider = match &options.images {
        Some(p) => Arc::clone(p),
        None => crate::images::standard().await?,
    };
    Ok(Some(provider.image_for(&node.spec.id, docker).await?))
}

/// A shared container node's pool key, how to start its container, and the node folders the
/// runner sees in it.
pub(crate) fn shared_container(
    node: &PlannedNode,
    base_dir: &Path,
    image: Option<String>,
    shared_paths: &[PathBuf],
    options: &SessionOptions,
    backend: &Arc<dyn Backend>,
    transport: &Arc<dyn Transport>,
) -> Result<(String, StartShared, Vec<PathBuf>), SessionError> {
    let container = python::container_spec(node, base_dir, image, shared_paths)?;
    let mut spec = container.spec;
    spec.cpuset = options.cpuset.clone();
    spec.realtime = options.realtime;
    let key = crate::pool::node_key(&spec, &node.spec.node_type);
    let start = StartShared {
        backend: Arc::clone(backend),
        container: spec,
        transport: Arc::clone(transport),
        config: options.transport_config.clone(),
        ready_timeout: options.ready_timeout,
    };
    Ok((key, start, container.node_dirs))
}
