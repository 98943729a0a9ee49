//! Ending a session: drain, stop every node, remove every channel, check that nothing remains.

use super::*;

impl Session {
    /// Ends the session: end-of-stream into every input, a grace period for nodes to drain and
    /// exit, then kill what is left, remove every channel and check that nothing remains.
    pub async fn stop(mut self) -> Result<SessionStats, SessionError> {
        let span = tracing::info_span!("stop", session_id = %self.id);
        async {
            self.stopping = true;
            self.end_inputs();
            let deadline = Instant::now() + self.options.stop_grace;
            while Instant::now() < deadline && self.nodes.iter().any(|n| !n.finished()) {
                // Keep outputs flowing, so nodes blocked on a full queue can finish.
                for (_, receiver, _) in &mut self.outputs {
                    let mut frames = 0;
                    while let Ok(Some(_)) = receiver.receive_with(Duration::ZERO, &mut |h, _| {
                        frames += u64::from(!h.is_end_of_stream())
                    }) {}
                    self.stats.drained += frames;
                }
                // And control messages, so a runner's last `stats` and `stopped` never wait.
                self.poll_controls();
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            self.watch();
        }
        .instrument(span)
        .await;
        // Frames that were on their way through a node still down are lost now.
        self.stats.lost += self.flow.settle();
        let stats = self.stats;
        let leftovers = self.teardown().await;
        if !leftovers.is_empty() {
            return Err(SessionError::Leftovers {
                session: self.id.to_string(),
                resources: leftovers,
            });
        }
        Ok(stats)
    }

    /// Stops every node, removes every channel, sweeps; returns what could not be removed.
    pub(super) async fn teardown(&mut self) -> Vec<String> {
        if self.torn_down {
            return Vec::new();
        }
        self.torn_down = true;
        self.stopping = true;
        // A restart still waiting out its backoff gives up; one already launching finishes.
        self.halt.store(true, Ordering::SeqCst);
        // A restart under way finishes first; its runner is stopped with the rest.
        for node in &mut self.nodes {
            if let Some(task) = node.restarting.take()
                && let Ok(Ok(serving)) = task.await
            {
                let old = std::mem::replace(&mut node.serving, serving);
                self.cleanups
                    .push(self.handle.spawn(super::supervise::retire(old)));
            }
        }
        for cleanup in self.cleanups.drain(..) {
            let _ = cleanup.await;
        }
        let grace = Duration::from_millis(500);
        // An instance in a shared container may still be loading or cleaning up; it gets the
        // full stop grace, since failing it stops the container for every session on it.
        let detach_grace = self.options.stop_grace;
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
                    let left = lease.detach(detach_grace).await;
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
    pub(super) fn release_channels(&mut self) {
        // The reactor lets go of the descriptors before their receivers close them.
        self.wakers = None;
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
        if self.torn_down && self.channels.is_none() {
            return;
        }
        // Dropped without `stop()` (or while a `stop()` was cut short): kill what is left
        // now, then remove the channels — the reactor lets go of their descriptors first.
        for node in &self.nodes {
            if let Some(task) = &node.restarting {
                task.abort();
            }
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
