//! Tunables shared by every transport.

use std::time::Duration;

/// How channels are sized and how waiting is done.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportConfig {
    /// Frames a reader may have queued before the writer is held back.
    pub queue_depth: usize,
    /// Largest payload a writer expects (bytes); larger frames are still allowed where the
    /// transport can grow, at the cost of a one-time reallocation.
    pub max_frame_bytes: usize,
    /// How long a writer waits for a full reader queue before reporting [`Backpressure`].
    ///
    /// [`Backpressure`]: crate::TransportError::Backpressure
    pub send_timeout: Duration,
    /// How long a reader polls before it blocks on a wake-up event. Polling is cheap on an idle
    /// core and saves the wake-up (tens of µs on a VM); zero disables it.
    pub spin: Duration,
    /// The most a host that just sent a frame polls for the reply before it sleeps: it polls
    /// for about twice the recent round trips' median, never longer than this (BENCHMARKS.md,
    /// "Waiting"). Zero: the host polls only `spin`.
    pub reply_spin: Duration,
    /// How long before a steadily paced node's next frame is due its runner stops sleeping and
    /// polls for it (and how long past the due time it keeps polling). It saves the node's
    /// wake-up at a CPU cost of about twice this per period. Zero: the runner sleeps until the
    /// frame's wake-up.
    pub anticipate: Duration,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            queue_depth: 32,
            max_frame_bytes: 1 << 20,
            send_timeout: Duration::from_secs(2),
            spin: Duration::from_micros(50),
            reply_spin: Duration::from_millis(1),
            anticipate: Duration::from_micros(300),
        }
    }
}
