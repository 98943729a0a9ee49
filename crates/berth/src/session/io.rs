//! Moving frames: pipeline inputs written straight into shared memory, outputs read in place.

use super::*;

/// Longest a stream of outputs keeps control messages and exits from being looked at.
const WATCH_EVERY: Duration = Duration::from_millis(10);

/// A channel's wake-up descriptor, borrowed from its receiver for the reactor.
#[derive(Debug)]
pub(super) struct WakeFd(std::os::fd::RawFd);

impl std::os::fd::AsRawFd for WakeFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

impl Session {
    /// Sends interleaved f32 audio into pipeline input `input`, written straight into shared
    /// memory. Returns the frame's number on that input (0, 1, 2, …). While a node the frame
    /// would pass through is down (being restarted), the frame is not sent and counts as lost.
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
        self.send_each(input, timestamp_ns, |sender| {
            sender.send_audio(samples, sample_rate, channels, timestamp_ns)
        })
    }

    /// Sends `samples` interleaved f32 samples into pipeline input `input`, written by `fill`
    /// straight into the shared-memory frame: a capture callback or a synthesizer fills the
    /// frame in place and nothing is copied. `fill` runs once and must write every sample (the
    /// frame may hold what an earlier one left). An input that feeds several nodes has one
    /// frame per node: `fill` then writes a buffer the session keeps, copied into each, as
    /// [`Session::send_audio`] does. Timestamped before `fill` runs; returns the frame's number
    /// on that input.
    pub fn send_audio_with(
        &mut self,
        input: &str,
        samples: usize,
        sample_rate: u32,
        channels: u32,
        mut fill: impl FnMut(&mut [f32]),
    ) -> Result<u64, SessionError> {
        let timestamp_ns = monotonic_ns();
        let in_place = self.flow.input_index(input).is_some_and(|index| {
            self.inputs[index].len() == 1
                && self.flow.blocked_at(self.flow.target(index, 0)).is_none()
        });
        if in_place {
            return self.send_each(input, timestamp_ns, |sender| {
                sender.send_audio_with(samples, sample_rate, channels, timestamp_ns, &mut fill)
            });
        }
        let mut staged = std::mem::take(&mut self.staged);
        staged.resize(samples, 0.0);
        fill(&mut staged);
        let sent = self.send_audio_at(input, &staged, sample_rate, channels, timestamp_ns);
        self.staged = staged;
        sent
    }

    /// Sends a text, JSON or bytes frame into pipeline input `input`.
    pub fn send_bytes(
        &mut self,
        input: &str,
        kind: FrameKind,
        bytes: &[u8],
    ) -> Result<u64, SessionError> {
        let timestamp = monotonic_ns();
        self.send_each(input, timestamp, |sender| {
            sender.send_bytes(kind, bytes, timestamp)
        })
    }

    pub(super) fn send_each(
        &mut self,
        input: &str,
        timestamp_ns: u64,
        mut send: impl FnMut(&mut dyn FrameSender) -> Result<u64, berth_transport::TransportError>,
    ) -> Result<u64, SessionError> {
        let Some(index) = self.flow.input_index(input) else {
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
        let senders = &mut self.inputs[index];
        let number = self.flow.number(index);
        let mut lost = false;
        let mut sent = false;
        for (k, sender) in senders.iter_mut().enumerate() {
            let node = self.flow.target(index, k);
            if let Some(down) = self.flow.blocked_at(node) {
                self.flow.dropped(down, index, number);
                lost = true;
                continue;
            }
            send(sender.as_mut())?;
            self.flow.sent(node, index, number, timestamp_ns);
            sent = true;
        }
        if sent {
            self.reply.sent(Instant::now());
        }
        self.stats.sent += 1;
        if lost {
            self.stats.lost += 1;
        }
        // A caller that only sends still has control messages read (runners block on a full
        // control queue) and exits seen.
        if self.last_watch.elapsed() >= WATCH_EVERY {
            self.watch();
        }
        Ok(number)
    }

    /// Sends end-of-stream into every pipeline input: each node finishes what it has, passes
    /// the end downstream and exits. Outputs keep arriving until [`Session::outputs_ended`].
    pub fn end_inputs(&mut self) {
        if std::mem::replace(&mut self.inputs_ended, true) {
            return;
        }
        for senders in &mut self.inputs {
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

    /// Waits up to `timeout` for the next output frame and lets `read` see it in place, without
    /// holding up the async runtime: it sleeps on the wake-ups of every output and control
    /// channel through tokio's reactor (one wait across all of them, no thread; a transport
    /// without wake-up descriptors is polled every millisecond), so other tasks — on a
    /// current-thread runtime too — run meanwhile. It also wakes every 10 ms to look at node
    /// exits. The runtime needs its IO driver (`enable_io`/`enable_all`). Returns what
    /// [`Session::recv_with`] returns.
    pub async fn recv<R>(
        &mut self,
        timeout: Duration,
        mut read: impl FnMut(Output<'_>) -> R,
    ) -> Result<Option<R>, SessionError> {
        let deadline = tokio::time::Instant::now() + timeout;
        if self.wakers.is_none() {
            self.wakers = Some(self.make_wakers());
        }
        loop {
            // Wake-ups are taken before looking, so a frame that lands after the look still
            // wakes the wait below.
            self.clear_wakes();
            if let Some(result) = self.recv_with(Duration::ZERO, &mut read)? {
                return Ok(Some(result));
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.woken(left.min(WATCH_EVERY)).await;
        }
    }

    /// Sleeps until an output or control channel is woken, or for `slice`, through tokio's
    /// reactor (other tasks run meanwhile); without wake-up descriptors (an in-process
    /// transport) it sleeps 1 ms at most.
    pub(super) async fn woken(&mut self, slice: Duration) {
        if self.wakers.is_none() {
            self.wakers = Some(self.make_wakers());
        }
        let wakers = self.wakers.as_deref().unwrap_or_default();
        if wakers.is_empty() {
            tokio::time::sleep(slice.min(Duration::from_millis(1))).await;
            return;
        }
        let woken = std::future::poll_fn(|cx| {
            for waker in wakers {
                if let std::task::Poll::Ready(Ok(mut ready)) = waker.poll_read_ready(cx) {
                    ready.clear_ready();
                    return std::task::Poll::Ready(());
                }
            }
            std::task::Poll::Pending
        });
        let _ = tokio::time::timeout(slice, woken).await;
    }

    /// The reactor registrations of every output's and control channel's wake-up descriptor;
    /// empty when one of them has none (then `recv` polls).
    fn make_wakers(&self) -> Vec<tokio::io::unix::AsyncFd<WakeFd>> {
        let fds: Option<Vec<_>> = self
            .outputs
            .iter()
            .map(|(_, receiver, _)| receiver.wake_fd())
            .chain(self.controls.iter().map(|c| c.receiver.wake_fd()))
            .collect();
        let registered: Result<Vec<_>, _> = fds
            .unwrap_or_default()
            .into_iter()
            .map(|fd| {
                // SAFETY: the descriptor stays open while the registration lives: it belongs to
                // a receiver of this session, and `release_channels` drops the registrations
                // before the receivers.
                unsafe {
                    tokio::io::unix::AsyncFd::register_with_interest(
                        WakeFd(fd),
                        tokio::io::Interest::READABLE,
                    )
                }
            })
            .collect();
        registered.unwrap_or_else(|e| {
            tracing::debug!(error = ?e, "cannot wait on wake-up descriptors; polling");
            Vec::new()
        })
    }

    /// Waits up to `timeout` for the next output frame and lets `read` see it in place.
    /// Returns `Ok(None)` on timeout, and the first node error or crash as `Err` (a node that
    /// raised goes on; a crashed node does not). **Blocks the calling thread** while it waits:
    /// call it from a thread of its own (or `spawn_blocking`), and use [`Session::recv`] in
    /// async code.
    ///
    /// Right after a send it polls for the reply for about twice the recent round trips'
    /// median (at most `TransportConfig::reply_spin`), so the usual reply costs no wake-up;
    /// then it sleeps: on the output's wake-up when there is one output, else on the wake-ups
    /// of every output and control channel at once (one `poll(2)`).
    ///
    /// Runners wait at most `TransportConfig::send_timeout` for room in a full queue: a host
    /// that stops reading its outputs for longer ends the runners feeding them with a `fatal`
    /// (and their restart policy applies).
    pub fn recv_with<R>(
        &mut self,
        timeout: Duration,
        read: impl FnMut(Output<'_>) -> R,
    ) -> Result<Option<R>, SessionError> {
        let result = self.poll_then_wait(timeout, read);
        if self.reply.promised {
            // Whoever waits next looks once before it blocks (every wait here does).
            self.reply.promised = false;
            for (_, receiver, _) in &mut self.outputs {
                receiver.promise_to_look(0);
            }
        }
        result
    }

    /// [`Session::recv_with`], but for withdrawing the promises it made while polling.
    fn poll_then_wait<R>(
        &mut self,
        timeout: Duration,
        mut read: impl FnMut(Output<'_>) -> R,
    ) -> Result<Option<R>, SessionError> {
        let deadline = Instant::now() + timeout;
        // Whether the wake-ups were taken since the last look (multi-output waiting).
        let mut armed = false;
        loop {
            if let Some(err) = self.pending.pop_front() {
                return Err(err);
            }
            let count = self.outputs.len();
            let now = Instant::now();
            let polling_until = self
                .reply
                .poll_until()
                .filter(|&until| now < until && now < deadline)
                .map(|until| until.min(deadline));
            let polling = polling_until.is_some();
            if let Some(until) = polling_until {
                // The look after the promise is the wait below, which looks before it blocks.
                let until_ns =
                    monotonic_ns() + (until - now).min(reply::PROMISE_AHEAD).as_nanos() as u64;
                for (_, receiver, ended) in &mut self.outputs {
                    if !*ended {
                        receiver.promise_to_look(until_ns);
                    }
                }
                self.reply.promised = true;
            }
            let slice = if count == 1 && !polling {
                Duration::from_millis(20)
            } else {
                Duration::ZERO
            };
            let slice = slice.min(deadline.saturating_duration_since(now));
            for i in 0..count {
                let index = (self.next_output + i) % count;
                let (node_id, receiver, ended) = &mut self.outputs[index];
                if *ended {
                    continue;
                }
                let mut result = None;
                let mut end = false;
                let mut answers = 0;
                let mut arrived = None;
                let delivery = receiver.receive_with(slice, &mut |header, payload| {
                    if header.is_end_of_stream() {
                        end = true;
                    } else {
                        answers = header.timestamp_ns;
                        arrived = Some(Instant::now());
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
                    self.reply.answered(arrived.unwrap_or_else(Instant::now));
                    self.stats.lost += self.flow.answered(index, answers);
                    self.report_recovered();
                    self.next_output = (index + 1) % count;
                    self.stats.received += 1;
                    // While outputs keep coming, control messages and exits are still looked
                    // at every few milliseconds (a node elsewhere may have died).
                    if self.last_watch.elapsed() >= WATCH_EVERY {
                        self.watch();
                    }
                    return Ok(Some(result));
                }
            }
            if polling {
                if self.last_watch.elapsed() >= WATCH_EVERY {
                    self.watch();
                }
                // Yield rather than spin: a node woken onto this CPU runs at once.
                std::thread::yield_now();
                continue;
            }
            self.watch();
            if self.pending.is_empty() && Instant::now() >= deadline {
                return Ok(None);
            }
            if count != 1 && self.pending.is_empty() {
                // Take the wake-ups, look once more, then sleep until one comes: a frame that
                // lands after the look still wakes the wait.
                if armed {
                    self.wait_for_wakes(deadline);
                    armed = false;
                } else {
                    self.clear_wakes();
                    armed = true;
                }
            }
        }
    }

    pub(super) fn clear_wakes(&mut self) {
        for (_, receiver, _) in &mut self.outputs {
            receiver.clear_wakes();
        }
        for control in &mut self.controls {
            control.receiver.clear_wakes();
        }
    }

    /// Sleeps until an output or control channel is woken, `deadline`, or [`WATCH_EVERY`]
    /// (exits are looked at that often), with one `poll(2)` across every wake-up descriptor;
    /// a transport without them is polled every 200 µs.
    fn wait_for_wakes(&self, deadline: Instant) {
        let mut fds: Vec<libc::pollfd> =
            Vec::with_capacity(self.outputs.len() + self.controls.len());
        let described = self
            .outputs
            .iter()
            .map(|(_, receiver, ended)| (!*ended).then(|| receiver.wake_fd()))
            .chain(self.controls.iter().map(|c| Some(c.receiver.wake_fd())))
            .all(|fd| match fd {
                None => true, // an ended output is not waited on
                Some(None) => false,
                Some(Some(fd)) => {
                    fds.push(libc::pollfd {
                        fd,
                        events: libc::POLLIN,
                        revents: 0,
                    });
                    true
                }
            });
        let left = deadline
            .saturating_duration_since(Instant::now())
            .min(WATCH_EVERY);
        if !described {
            std::thread::sleep(left.min(Duration::from_micros(200)));
            return;
        }
        let millis = left.as_micros().div_ceil(1000) as libc::c_int;
        // SAFETY: `fds` is a valid array of `fds.len()` pollfd entries for the whole call; the
        // descriptors belong to this session's receivers, which outlive it.
        let polled = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if polled < 0 {
            // EINTR (a child's exit signal) or worse: look again rather than spin on an error.
            tracing::trace!(error = %std::io::Error::last_os_error(), "poll on wake-ups");
        }
    }
}
