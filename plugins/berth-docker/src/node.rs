//! One runner container: create, start, follow, stop, remove.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use berth_backend::{BackendError, ExitReport, LaunchSpec, LogTail, NodeProcess};
use bollard::Docker;
use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::container::{Settings, container_name, create_body, ensure_host_paths, ensure_image};
use crate::error::{describe, is_not_found, operation_error};
use crate::stats::{MemoryPeak, reported_peak, sample_memory, watch_cgroup};

/// How many output lines a node keeps for error reports.
const LOG_TAIL_LINES: usize = 200;

/// The longest grace left to `docker stop`: its answer must come within the client's request
/// timeout (120 s); longer graces are timed here.
const LONGEST_DAEMON_STOP: Duration = Duration::from_secs(100);

/// How long output may keep arriving after the container ended.
const LOG_DRAIN: Duration = Duration::from_secs(2);

/// A runner running in its own container.
pub struct DockerNode {
    id: String,
    name: String,
    session_id: String,
    node_id: String,
    docker: Docker,
    logs: LogTail,
    exit: watch::Receiver<Option<ExitReport>>,
    logs_done: watch::Receiver<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The report once the container has been removed; `stop` after that is a no-op.
    removed: tokio::sync::Mutex<Option<ExitReport>>,
    /// Whether removal is done or under way (by `stop` or `abort`).
    released: AtomicBool,
    /// The container's cgroup, found from its first process.
    cgroup: Option<berth_resources::CgroupSampler>,
}

impl DockerNode {
    /// Creates and starts the container for `spec`, and starts following it.
    pub(crate) async fn launch(
        docker: Docker,
        spec: &LaunchSpec,
        settings: Settings,
    ) -> Result<Self, BackendError> {
        let image = spec.image.as_deref().ok_or_else(|| BackendError::Launch {
            node_id: spec.node_id.clone(),
            detail: "the docker backend needs an image, and none was given; set the node's \
                     environment (image) or run it with the process executor"
                .into(),
        })?;
        if spec.command.is_empty() {
            return Err(BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail: "the launch command is empty".into(),
            });
        }
        let body = create_body(spec, image, settings)?;
        ensure_image(&docker, image, &spec.node_id).await?;
        ensure_host_paths(spec)?;

        let name = container_name(spec);
        let span = tracing::info_span!(
            "create", session_id = %spec.session_id, node_id = %spec.node_id,
            container_id = tracing::field::Empty, container = %name, image
        );
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..CreateContainerOptions::default()
        };
        let created = docker
            .create_container(Some(options), body)
            .instrument(span.clone())
            .await
            .map_err(|e| match &e {
                e if is_not_found(e) => BackendError::Launch {
                    node_id: spec.node_id.clone(),
                    detail: crate::container::missing_image(image),
                },
                e => BackendError::Launch {
                    node_id: spec.node_id.clone(),
                    detail: crate::container::realtime_refused(spec, &e.to_string())
                        .unwrap_or_else(|| {
                            format!("creating container `{name}` failed: {}", describe(e))
                        }),
                },
            })?;
        let id = created.id;
        span.record("container_id", id.as_str());
        span.in_scope(|| {
            for warning in &created.warnings {
                tracing::warn!(%warning, "Docker warned while creating the container");
            }
        });

        let span = tracing::info_span!(
            "start", session_id = %spec.session_id, node_id = %spec.node_id, container_id = %id
        );
        if let Err(e) = docker
            .start_container(&id, None)
            .instrument(span.clone())
            .await
        {
            let _ = remove(&docker, &id, &spec.session_id, &spec.node_id).await;
            let detail =
                crate::container::realtime_refused(spec, &e.to_string()).unwrap_or_else(|| {
                    format!(
                        "starting container `{name}` ({}) failed: {}",
                        spec.command.join(" "),
                        describe(&e)
                    )
                });
            return Err(BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail,
            });
        }
        span.in_scope(|| tracing::info!(container = %name, "container started"));
        // Its cgroup, for measuring what it uses, is found from its first process.
        let cgroup = match docker.inspect_container(&id, None).await {
            Ok(inspect) => inspect
                .state
                .and_then(|s| s.pid)
                .filter(|pid| *pid > 0)
                .and_then(|pid| match berth_resources::for_cgroup_of(pid as u32) {
                    // The pid is the daemon's view: from another pid namespace (Berth itself
                    // in a container) it names some other process, whose cgroup is not ours.
                    Ok(cgroup) if berth_resources::Sampler::source(&cgroup).contains(&id) => {
                        Some(cgroup)
                    }
                    Ok(other) => {
                        tracing::debug!(container = %name, cgroup = %berth_resources::Sampler::source(&other), "the container's first process is in another cgroup here (another pid namespace?); its usage is not measured");
                        None
                    }
                    Err(e) => {
                        tracing::debug!(container = %name, error = %e, "its cgroup cannot be read; its usage is not measured");
                        None
                    }
                }),
            Err(_) => None,
        };

        let logs = LogTail::new(&spec.session_id, &spec.node_id, LOG_TAIL_LINES);
        let (logs_tx, logs_done) = watch::channel(false);
        let log_task = tokio::spawn(crate::logs::forward(
            docker.clone(),
            id.clone(),
            logs.clone(),
            logs_tx,
        ));
        let peak = MemoryPeak::default();
        // The cgroup's own record where it can be read; Docker's stats otherwise.
        let sampler = match &cgroup {
            Some(cgroup) => tokio::spawn(watch_cgroup(cgroup.clone(), peak.clone())),
            None => tokio::spawn(sample_memory(docker.clone(), id.clone(), peak.clone())),
        };
        let (exit_tx, exit) = watch::channel(None);
        let waiter = tokio::spawn(watch_exit(
            docker.clone(),
            id.clone(),
            spec.limits.memory_bytes,
            peak,
            sampler,
            exit_tx,
        ));
        Ok(Self {
            id,
            name,
            session_id: spec.session_id.clone(),
            node_id: spec.node_id.clone(),
            docker,
            logs,
            exit,
            logs_done,
            tasks: vec![log_task, waiter],
            removed: tokio::sync::Mutex::new(None),
            released: AtomicBool::new(false),
            cgroup,
        })
    }

    /// The container's name (`berth-{session}-{node}-{random}`).
    pub fn container_name(&self) -> &str {
        &self.name
    }

    /// The session the node belongs to.
    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    async fn exit_report(&self) -> ExitReport {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(report) => report.clone().unwrap_or_default(),
            Err(_) => ExitReport::default(),
        }
    }

    async fn logs_drained(&self) -> bool {
        let mut done = self.logs_done.clone();
        tokio::time::timeout(LOG_DRAIN, done.wait_for(|d| *d))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// `docker stop`: the daemon sends SIGTERM, then SIGKILL after `t` whole seconds.
    async fn stop_by_daemon(&self, grace: Duration) -> Result<(), BackendError> {
        let t = grace.as_secs_f64().ceil().max(1.0) as i32;
        let options = StopContainerOptions {
            t: Some(t),
            signal: None,
        };
        match self.docker.stop_container(&self.id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(DockerError::RequestTimeoutError) => {
                tracing::warn!("the daemon did not confirm the stop in time; killing");
                self.signal("SIGKILL").await
            }
            Err(e) => Err(operation_error("stop", &self.name, &e)),
        }
    }

    /// SIGTERM, then SIGKILL after `grace`, timed here: for graces longer than a request may
    /// stay unanswered.
    async fn stop_by_signals(&self, grace: Duration) -> Result<(), BackendError> {
        self.signal("SIGTERM").await?;
        if tokio::time::timeout(grace, self.exit_report())
            .await
            .is_err()
        {
            tracing::warn!(?grace, "the runner ignored SIGTERM; killing it");
            self.signal("SIGKILL").await?;
        }
        Ok(())
    }

    async fn signal(&self, signal: &str) -> Result<(), BackendError> {
        let options = KillContainerOptions {
            signal: signal.into(),
        };
        match self.docker.kill_container(&self.id, Some(options)).await {
            Ok(()) => Ok(()),
            // Gone, or no longer running (409): either way it has ended.
            Err(e) if is_not_found(&e) => Ok(()),
            Err(DockerError::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(operation_error("kill", &self.name, &e)),
        }
    }

    async fn stop_in(&self, grace: Duration) -> Result<ExitReport, BackendError> {
        let mut removed = self.removed.lock().await;
        if let Some(report) = &*removed {
            return Ok(report.clone());
        }
        if self.try_exit().is_none() {
            if grace <= LONGEST_DAEMON_STOP {
                self.stop_by_daemon(grace).await?;
            } else {
                self.stop_by_signals(grace).await?;
            }
        }
        let report = self.exit_report().await;
        if !self.logs_drained().await {
            tracing::debug!("the log stream did not end after the container did; closing it");
        }
        remove(&self.docker, &self.id, &self.session_id, &self.node_id).await?;
        self.released.store(true, Ordering::Release);
        for task in &self.tasks {
            task.abort();
        }
        tracing::info!(%report, "container stopped and removed");
        *removed = Some(report.clone());
        Ok(report)
    }
}

#[async_trait]
impl NodeProcess for DockerNode {
    fn id(&self) -> &str {
        &self.id
    }

    fn node_id(&self) -> &str {
        &self.node_id
    }

    fn try_exit(&self) -> Option<ExitReport> {
        self.exit.borrow().clone()
    }

    async fn wait(&self) -> ExitReport {
        let report = self.exit_report().await;
        self.logs_drained().await;
        report
    }

    async fn stop(&self, grace: Duration) -> Result<ExitReport, BackendError> {
        let span = tracing::info_span!(
            "stop", session_id = %self.session_id, node_id = %self.node_id, container_id = %self.id
        );
        self.stop_in(grace).instrument(span).await
    }

    fn logs(&self) -> &LogTail {
        &self.logs
    }

    fn sampler(&self) -> Option<Box<dyn berth_resources::Sampler>> {
        let cgroup = self.cgroup.clone()?;
        Some(Box::new(cgroup))
    }

    fn abort(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::info!(
            session_id = %self.session_id, node_id = %self.node_id, container_id = %self.id,
            "aborting: force-removing the container"
        );
        remove_in_background(
            self.docker.clone(),
            self.id.clone(),
            self.session_id.clone(),
            self.node_id.clone(),
        );
    }
}

impl Drop for DockerNode {
    /// A handle dropped without `stop` must not leave its container running.
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        if !self.released.load(Ordering::Acquire) {
            self.abort();
        }
    }
}

/// Force-removes the container on a thread of its own, without waiting for it: the caller may
/// be outside any runtime, or inside one that is shutting down.
fn remove_in_background(docker: Docker, id: String, session_id: String, node_id: String) {
    let cleanup = std::thread::Builder::new()
        .name("berth-docker-cleanup".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let removed = match runtime {
                Ok(runtime) => runtime.block_on(remove(&docker, &id, &session_id, &node_id)),
                Err(e) => Err(BackendError::Operation {
                    backend: crate::error::BACKEND,
                    operation: "remove",
                    target: id.clone(),
                    detail: format!("no runtime to remove it on: {e}"),
                }),
            };
            if let Err(e) = removed {
                tracing::warn!(%e, "could not remove an abandoned node's container");
            }
        });
    if let Err(e) = cleanup {
        tracing::warn!(%e, "could not remove an abandoned node's container");
    }
}

/// Force-removes a container; one that is already gone is fine.
pub(crate) async fn remove(
    docker: &Docker,
    id: &str,
    session_id: &str,
    node_id: &str,
) -> Result<(), BackendError> {
    let span = tracing::info_span!("remove", session_id, node_id, container_id = id);
    let options = RemoveContainerOptions {
        force: true,
        ..RemoveContainerOptions::default()
    };
    match docker
        .remove_container(id, Some(options))
        .instrument(span)
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if is_not_found(&e) => Ok(()),
        // Removal already under way (e.g. a sweep raced us): it will finish on its own.
        Err(DockerError::DockerResponseServerError {
            status_code: 409, ..
        }) => Ok(()),
        Err(e) => Err(operation_error("remove", id, &e)),
    }
}

/// Waits for the container to end, then reads its state and publishes the [`ExitReport`].
async fn watch_exit(
    docker: Docker,
    id: String,
    memory_limit: Option<u64>,
    peak: MemoryPeak,
    sampler: JoinHandle<()>,
    exit: watch::Sender<Option<ExitReport>>,
) {
    loop {
        match docker.wait_container(&id, None).next().await {
            Some(Ok(_)) | Some(Err(DockerError::DockerContainerWaitError { .. })) | None => break,
            Some(Err(e)) if is_not_found(&e) => break,
            Some(Err(e)) => {
                tracing::debug!(container_id = %id, error = %e, "waiting for the container failed; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let state = loop {
        match docker.inspect_container(&id, None).await {
            Ok(inspect) => {
                let state = inspect.state.unwrap_or_default();
                if state.running == Some(true) {
                    // The wait ended without the container ending (daemon restart): wait again.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                break Some(state);
            }
            Err(e) => {
                tracing::warn!(container_id = %id, error = %e, "cannot read the ended container's state");
                break None;
            }
        }
    };
    sampler.abort();
    let report = match state {
        Some(state) => {
            let oom_killed = state.oom_killed.unwrap_or(false);
            let (memory_peak_bytes, memory_peak_estimated) = reported_peak(
                peak.get(),
                memory_limit,
                oom_killed,
                peak.is_kernel_record(),
            );
            ExitReport {
                code: state.exit_code,
                signal: None,
                oom_killed,
                memory_limit_bytes: memory_limit,
                memory_peak_bytes,
                memory_peak_estimated,
                memory_limit_hits: peak.hits(),
            }
        }
        None => ExitReport {
            memory_limit_bytes: memory_limit,
            memory_peak_bytes: peak.get(),
            ..ExitReport::default()
        },
    };
    tracing::debug!(container_id = %id, %report, "container ended");
    let _ = exit.send(Some(report));
}
