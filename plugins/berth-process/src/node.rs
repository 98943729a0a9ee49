//! One runner subprocess: spawn, forward output, stop gracefully, report the exit.

use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use async_trait::async_trait;
use berth_backend::{
    BackendError, ExitReport, LaunchSpec, LogLine, LogStream, LogTail, NodeProcess,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::watch;
use tracing::Instrument;

use crate::{ENV_MANAGED_BY, ENV_SESSION};

/// A runner running as a host subprocess.
pub struct ProcessNode {
    pid: i32,
    id: String,
    node_id: String,
    logs: LogTail,
    exit: watch::Receiver<Option<ExitReport>>,
    output_done: watch::Receiver<usize>,
}

impl ProcessNode {
    /// Starts the runner described by `spec`.
    pub fn spawn(spec: &LaunchSpec) -> Result<Self, BackendError> {
        let _span =
            tracing::info_span!("launch", session_id = %spec.session_id, node_id = %spec.node_id)
                .entered();
        let (program, args) = spec
            .command
            .split_first()
            .ok_or_else(|| BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail: "the launch command is empty".into(),
            })?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(&spec.env)
            .env(ENV_MANAGED_BY, "berth")
            .env(ENV_SESSION, &spec.session_id)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        if let Some(dir) = &spec.working_dir {
            command.current_dir(dir);
        }
        let cpus = spec
            .cpuset
            .as_deref()
            .map(berth_backend::parse_cpu_list)
            .transpose()
            .map_err(|detail| BackendError::Launch {
                node_id: spec.node_id.clone(),
                detail,
            })?;
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(move || {
                // The runner must not outlive the host, even if the host crashes.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(cpus) = &cpus {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    for &cpu in cpus {
                        libc::CPU_SET(cpu, &mut set);
                    }
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
                }
                Ok(())
            });
        }
        let mut child = command.spawn().map_err(|e| BackendError::Launch {
            node_id: spec.node_id.clone(),
            detail: format!("cannot run `{program}`: {e}"),
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or_default();
        let mut logs = LogTail::new(&spec.session_id, &spec.node_id, 200);
        if let Some(path) = &spec.log_file {
            logs = match logs.clone().with_file(path) {
                Ok(logs) => logs,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot write the node's log file; `berth logs` will not show it");
                    logs
                }
            };
        }
        let (done_tx, output_done) = watch::channel(0usize);
        let done_tx = std::sync::Arc::new(done_tx);
        if let Some(out) = child.stdout.take() {
            tokio::spawn(forward(
                out,
                LogStream::Stdout,
                logs.clone(),
                done_tx.clone(),
            ));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(forward(err, LogStream::Stderr, logs.clone(), done_tx));
        }
        let (exit_tx, exit) = watch::channel(None);
        tokio::spawn(async move {
            let status = child.wait().await;
            let report = status.map(report_of).unwrap_or_default();
            let _ = exit_tx.send(Some(report));
        });
        tracing::info!(pid, "runner started");
        Ok(Self {
            pid,
            id: format!("pid {pid}"),
            node_id: spec.node_id.clone(),
            logs,
            exit,
            output_done,
        })
    }

    fn signal_group(&self, signal: i32) {
        // SAFETY: plain syscall on our own child's process group.
        unsafe { libc::kill(-self.pid, signal) };
    }

    async fn wait_output_drained(&self) {
        let mut done = self.output_done.clone();
        let _ = tokio::time::timeout(Duration::from_millis(500), done.wait_for(|n| *n >= 2)).await;
    }
}

#[async_trait]
impl NodeProcess for ProcessNode {
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
        let mut exit = self.exit.clone();
        let report = match exit.wait_for(Option::is_some).await {
            Ok(report) => report.clone().unwrap_or_default(),
            Err(_) => ExitReport::default(),
        };
        self.wait_output_drained().await;
        report
    }

    async fn stop(&self, grace: Duration) -> Result<ExitReport, BackendError> {
        let span = tracing::info_span!("stop", node_id = %self.node_id, pid = self.pid);
        self.stop_in(grace).instrument(span).await
    }

    fn logs(&self) -> &LogTail {
        &self.logs
    }

    fn sampler(&self) -> Option<Box<dyn berth_resources::Sampler>> {
        if self.try_exit().is_some() {
            return None; // reaped: its pid may name another process by now
        }
        let sampler = berth_resources::for_process(self.pid as u32).ok()?;
        Some(Box::new(sampler))
    }

    fn abort(&self) {
        self.signal_group(libc::SIGKILL);
    }
}

impl ProcessNode {
    async fn stop_in(&self, grace: Duration) -> Result<ExitReport, BackendError> {
        if let Some(report) = self.try_exit() {
            // Reap whatever the runner left in its group.
            self.signal_group(libc::SIGKILL);
            self.wait_output_drained().await;
            return Ok(report);
        }
        self.signal_group(libc::SIGTERM);
        let report = match tokio::time::timeout(grace, self.wait()).await {
            Ok(report) => report,
            Err(_) => {
                tracing::warn!(?grace, "runner ignored SIGTERM; killing it");
                self.signal_group(libc::SIGKILL);
                self.wait().await
            }
        };
        self.signal_group(libc::SIGKILL);
        Ok(report)
    }
}

async fn forward(
    stream: impl AsyncRead + Unpin,
    kind: LogStream,
    logs: LogTail,
    done: std::sync::Arc<watch::Sender<usize>>,
) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        logs.push(LogLine {
            stream: kind,
            text,
            timestamp: None,
        });
    }
    done.send_modify(|n| *n += 1);
}

fn report_of(status: ExitStatus) -> ExitReport {
    ExitReport {
        code: status.code().map(i64::from),
        signal: status.signal(),
        ..ExitReport::default()
    }
}
