//! How long the host polls for a reply it expects: after a send, about twice the median of
//! the recent round trips (so the usual reply is caught polling, not by a wake-up), never more
//! than `TransportConfig::reply_spin`.

use std::time::{Duration, Instant};

/// Round trips remembered for the median.
const RECENT: usize = 16;

/// Added to twice the median, so a reply a little slower than usual is still caught.
const SLACK: Duration = Duration::from_micros(20);

/// How far ahead the host, polling for a reply, promises its outputs' writers to look again
/// (`FrameReceiver::promise_to_look`), so they need not wake it; renewed at every look.
pub(super) const PROMISE_AHEAD: Duration = Duration::from_micros(150);

/// The host's expectation of the next reply.
#[derive(Debug)]
pub(super) struct ReplyWait {
    max: Duration,
    /// The oldest send not answered yet (within `max`).
    sent: Option<Instant>,
    recent: [Duration; RECENT],
    len: usize,
    next: usize,
    /// [`ReplyWait::budget`], worked out once a reply comes, not at every look while polling.
    budget: Duration,
    /// Whether the outputs' writers hold a promise of the host's to look again (withdrawn
    /// when `recv_with` returns).
    pub(super) promised: bool,
}

impl ReplyWait {
    pub(super) fn new(max: Duration) -> Self {
        Self {
            max,
            sent: None,
            recent: [Duration::ZERO; RECENT],
            len: 0,
            next: 0,
            budget: max,
            promised: false,
        }
    }

    /// A frame went into the pipeline at `at`. A send older than `max` that is still
    /// unanswered is forgotten (its frame made no output, or was lost), so it neither stops the
    /// polling for this one nor counts as a round trip.
    pub(super) fn sent(&mut self, at: Instant) {
        if self.max.is_zero() {
            return;
        }
        match self.sent {
            Some(earlier) if at.saturating_duration_since(earlier) <= self.max => {}
            _ => self.sent = Some(at),
        }
    }

    /// An output arrived at `at`: the round trip of the oldest unanswered send.
    pub(super) fn answered(&mut self, at: Instant) {
        if let Some(sent) = self.sent.take() {
            self.recent[self.next] = at.saturating_duration_since(sent);
            self.next = (self.next + 1) % RECENT;
            self.len = (self.len + 1).min(RECENT);
            let mut recent = self.recent;
            let recent = &mut recent[..self.len];
            recent.sort_unstable();
            self.budget = (recent[self.len / 2] * 2 + SLACK).min(self.max);
        }
    }

    /// Until when to poll for the expected reply; `None` when none is expected.
    pub(super) fn poll_until(&self) -> Option<Instant> {
        Some(self.sent? + self.budget())
    }

    /// How long after a send to poll: `2 × median + SLACK` of the recent round trips, at most
    /// `max` (all of `max` until a round trip is known).
    pub(super) fn budget(&self) -> Duration {
        self.budget
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn the_budget_follows_the_median_round_trip_within_the_cap() {
        let mut wait = ReplyWait::new(us(1000));
        let t0 = Instant::now();
        assert_eq!(wait.poll_until(), None, "nothing sent, nothing expected");
        wait.sent(t0);
        assert_eq!(
            wait.poll_until(),
            Some(t0 + us(1000)),
            "no round trip known yet"
        );
        for (i, rt) in [100, 120, 5000, 110, 90].into_iter().enumerate() {
            let at = t0 + us(i as u64 * 20_000);
            wait.sent(at);
            wait.answered(at + us(rt));
        }
        // Median of 90, 100, 110, 120, 5000 is 110: one slow frame does not move it.
        assert_eq!(wait.budget(), us(240));
        assert_eq!(wait.poll_until(), None, "every send was answered");
        for _ in 0..RECENT {
            wait.sent(t0);
            wait.answered(t0 + us(3000));
        }
        assert_eq!(wait.budget(), us(1000), "never more than the cap");
    }

    #[test]
    fn the_oldest_unanswered_send_counts_and_zero_turns_it_off() {
        let mut wait = ReplyWait::new(us(500));
        let t0 = Instant::now();
        wait.sent(t0);
        wait.sent(t0 + us(50));
        wait.answered(t0 + us(80));
        assert_eq!(wait.budget(), us(180));
        // A send that made no output is forgotten once older than the cap.
        wait.sent(t0 + us(1000));
        wait.sent(t0 + us(2000));
        assert_eq!(wait.poll_until(), Some(t0 + us(2000) + us(180)));
        let mut off = ReplyWait::new(Duration::ZERO);
        off.sent(t0);
        assert_eq!(off.poll_until(), None);
    }
}
