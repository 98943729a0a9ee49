//! Watching a running session: control messages and runner exits become session errors, and
//! a node whose runner died is restarted by its [`RestartPolicy`] while the others go on.

use futures_util::FutureExt;

use super::*;

/// How often a running session rewrites its status file (`berth ps` reads it).
const STATUS_EVERY: Duration = Duration::from_secs(1);

impl Session {
    /// Looks at control messages, then at exits and restarts.
    pub(super) fn watch(&mut self) {
        self.last_watch = Instant::now();
        self.poll_controls();
        self.poll_exits();
        if self.status_dirty || self.status_written.elapsed() >= STATUS_EVERY {
            self.publish_status();
        }
    }

    /// Reads every pending control message; errors become pending session errors.
    pub(super) fn poll_controls(&mut self) {
        let mut came_ready = Vec::new();
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
                    Some(ControlMessage::Ready { cpu_ns, .. }) => {
                        control.ready = true;
                        // A new runner counts from zero; what it used to start is the baseline.
                        control.stats = cpu_ns.map(|ns| RunnerStats {
                            cpu: Duration::from_nanos(ns),
                            ..RunnerStats::default()
                        });
                        came_ready.push(control.index);
                    }
                    Some(ControlMessage::Stopped { .. }) => control.stopped = true,
                    Some(ControlMessage::Stats(stats)) => control.stats = Some(stats),
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
                    Some(ControlMessage::Hung {
                        sequence,
                        busy_ms,
                        timeout_ms,
                    }) => {
                        self.pending.push_back(SessionError::NodeHung {
                            node_id: control.node_id.clone(),
                            sequence,
                            busy_ms,
                            timeout_ms,
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
        for index in came_ready {
            self.back_up(index);
        }
    }

    /// A node said `ready`: if it was restarted, it is back, and what was lost while it was
    /// down is reported.
    fn back_up(&mut self, index: usize) {
        let Some(node) = self.nodes.iter_mut().find(|n| n.index == index) else {
            return;
        };
        if !std::mem::replace(&mut node.awaiting_ready, false) {
            return;
        }
        self.stats.restarts += 1;
        node.restarted += 1;
        self.status_dirty = true;
        tracing::info!(session_id = %self.id, node_id = %node.node_id, restarts = node.restarts.len(), "node running again");
        self.flow.came_back(index);
        self.report_recovered();
    }

    /// Reports every restarted node whose outage is settled (its first answers came, or it
    /// had nothing in flight), with the frames it lost.
    pub(super) fn report_recovered(&mut self) {
        while let Some((index, lost)) = self.flow.take_resolved() {
            let Some(node) = self.nodes.iter().find(|n| n.index == index) else {
                continue;
            };
            tracing::info!(session_id = %self.id, node_id = %node.node_id, lost = ?lost, "node restarted");
            self.pending.push_back(SessionError::NodeRestarted {
                node_id: node.node_id.clone(),
                restarts: node.restarts.len() as u32,
                lost,
            });
        }
    }

    /// Turns a node that ended while the session runs into a pending error (once per exit),
    /// counts what it took with it, and schedules its restart; picks up finished restarts.
    pub(super) fn poll_exits(&mut self) {
        let mut ended = Vec::new();
        for i in 0..self.nodes.len() {
            self.poll_restart(i);
            let node = &self.nodes[i];
            if node.exit_reported || node.restarting.is_some() {
                continue;
            }
            // A shared instance can end while its container goes on (a `fatal` while running).
            let report = match (node.process().try_exit(), &node.serving) {
                (Some(report), _) => report,
                (None, Serving::Shared(lease)) => match lease.detached() {
                    Some(detached) => berth_backend::ExitReport {
                        code: Some(detached.code),
                        ..berth_backend::ExitReport::default()
                    },
                    None => continue,
                },
                (None, Serving::Own(_)) => continue,
            };
            ended.push((i, report));
        }
        if ended.is_empty() {
            return;
        }
        // A runner sends `stopped` before it ends, so what it sent is in its control channel by
        // now, even if the last look at the controls came before it.
        self.poll_controls();
        for (i, report) in ended {
            let node = &mut self.nodes[i];
            node.exit_reported = true;
            self.status_dirty = true;
            let (index, node_id) = (node.index, node.node_id.clone());
            // Clean only when this session ended its inputs: a runner stopped by someone else
            // (another session's failure, a runtime shutdown) left this session without it.
            if report.success() && self.controls[index].stopped && self.inputs_ended {
                continue;
            }
            let log_tail = node.process().logs().last_text(20);
            self.controls[index].ready = false;
            self.flow.went_down(index);
            let restart = if self.stopping {
                None
            } else {
                self.schedule_restart(i)
            };
            tracing::error!(session_id = %self.id, node_id = %node_id, %report, restart_in = ?restart, "node stopped unexpectedly");
            self.pending.push_back(SessionError::NodeExited {
                node_id,
                report: Box::new(report),
                log_tail,
                restart_in: restart,
            });
        }
    }

    /// Starts a restart of node `i` if its policy has one left; returns the delay.
    fn schedule_restart(&mut self, i: usize) -> Option<Duration> {
        let node = &mut self.nodes[i];
        let now = Instant::now();
        let window = Duration::from_secs(node.policy.window_s);
        node.restarts.retain(|at| now.duration_since(*at) < window);
        if node.restarts.len() >= node.policy.max_restarts as usize {
            tracing::warn!(session_id = %self.id, node_id = %node.node_id, max_restarts = node.policy.max_restarts, window_s = node.policy.window_s, "no restart left; the node stays down");
            return None;
        }
        node.restarts.push(now);
        let delay = node.policy.backoff(node.restarts.len() as u32);
        let relaunch = node.relaunch.clone();
        let backend = Arc::clone(&node.backend);
        let halt = Arc::clone(&self.halt);
        let span = tracing::info_span!("restart", session_id = %self.id, node_id = %node.node_id, attempt = node.restarts.len());
        node.restarting = Some(
            self.handle.spawn(
                async move {
                    tokio::time::sleep(delay).await;
                    if halt.load(Ordering::SeqCst) {
                        return Err(SessionError::Internal {
                            what: "restart",
                            detail: "the session is stopping".into(),
                        });
                    }
                    relaunch.start(backend).await
                }
                .instrument(span),
            ),
        );
        Some(delay)
    }

    /// Takes a finished restart of node `i`: the new runner replaces the dead one (which is
    /// stopped and removed in the background); a failed one is tried again by the policy.
    fn poll_restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if !node.restarting.as_ref().is_some_and(|t| t.is_finished()) {
            return;
        }
        let finished = node
            .restarting
            .take()
            .and_then(|t| t.now_or_never())
            .expect("a finished task has its output");
        match finished {
            Ok(Ok(serving)) => {
                let old = std::mem::replace(&mut node.serving, serving);
                node.started = std::time::SystemTime::now();
                node.exit_reported = false;
                node.awaiting_ready = true;
                let index = node.index;
                self.cleanups.push(self.handle.spawn(retire(old)));
                // Its `ready` may have come before the restart's end was seen here.
                if self.controls[index].ready {
                    self.back_up(index);
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(session_id = %self.id, node_id = %node.node_id, error = %e, "restart failed");
                self.pending.push_back(e);
                self.schedule_restart(i);
            }
            Err(e) => {
                self.pending.push_back(SessionError::Internal {
                    what: "a restart task failed",
                    detail: e.to_string(),
                });
            }
        }
    }
}

/// Stops and removes a runner that a restart replaced (or gives back its lease).
pub(super) async fn retire(old: Serving) {
    match old {
        Serving::Own(process) => {
            if let Err(e) = process.stop(Duration::from_millis(500)).await {
                tracing::warn!(error = %e, "removing a dead runner failed");
            }
        }
        Serving::Shared(lease) => lease.release(false).await,
    }
}
