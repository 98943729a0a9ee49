//! Control messages a runner sends to the host (see `docs/PROTOCOL.md`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One message on a node's control channel (native nodes send them too, from Rust).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ControlMessage {
    /// Initialized, every channel open.
    Ready {
        #[serde(default)]
        pid: Option<u64>,
        /// CPU time the node's thread used before it was ready.
        #[serde(default)]
        cpu_ns: Option<u64>,
    },
    /// `process()` raised for the input frame with this sequence number; the node goes on.
    Error {
        #[serde(default)]
        sequence: Option<u64>,
        error: String,
        #[serde(default)]
        traceback: String,
    },
    /// The node cannot go on.
    Fatal {
        #[serde(default)]
        stage: String,
        error: String,
        #[serde(default)]
        traceback: String,
    },
    /// A reader saw a gap in the sequence numbers.
    Lost {
        input: String,
        expected: u64,
        got: u64,
    },
    /// `process()` has been busy with one frame longer than the node's `timeout_ms`; the runner
    /// ends itself right after.
    Hung {
        #[serde(default)]
        sequence: Option<u64>,
        busy_ms: u64,
        timeout_ms: u64,
    },
    /// What the node's `process()` calls cost so far (every `stats_interval_ms` while frames
    /// flow, and once before the runner's end of stream).
    Stats(RunnerStats),
    /// About to exit cleanly.
    Stopped {
        #[serde(default)]
        processed: u64,
    },
}

/// What a node's runner measured of its own work: frames, the CPU time of the thread that runs
/// the node (in a shared container each session's instance has its own thread, so this is the
/// session's share), and how long recent `process()` calls took, decode to publish.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct RunnerStats {
    /// Frames handed to `process()`.
    #[serde(rename = "processed")]
    pub frames: u64,
    /// Frames `process()` raised on.
    #[serde(default)]
    pub errors: u64,
    /// CPU time of the node's thread since the runner started.
    #[serde(rename = "cpu_ns", with = "nanos")]
    pub cpu: Duration,
    /// Wall time spent in `process()` calls, all of them.
    #[serde(rename = "busy_ns", with = "nanos")]
    pub busy: Duration,
    /// How many calls the percentiles below cover (the latest ones).
    #[serde(default)]
    pub recent: u64,
    /// Median wall time of one recent call.
    #[serde(rename = "p50_ns", with = "nanos")]
    pub p50: Duration,
    /// 99th percentile of the recent calls.
    #[serde(rename = "p99_ns", with = "nanos")]
    pub p99: Duration,
    /// Longest recent call.
    #[serde(rename = "max_ns", with = "nanos")]
    pub max: Duration,
    /// Sends that found every reader's queue full and waited for room (a slow reader
    /// downstream).
    #[serde(default)]
    pub output_waits: u64,
    /// Sends that reached only some of the output's readers (each missed reader reports the
    /// frame lost).
    #[serde(default)]
    pub output_partial: u64,
    /// Frames the runner found polling just before they were due (a steadily paced input,
    /// `TransportConfig::anticipate`) rather than by a wake-up.
    #[serde(default)]
    pub anticipated: u64,
}

impl RunnerStats {
    /// Mean wall time of one `process()` call.
    pub fn mean(&self) -> Duration {
        let mean = self.busy.as_nanos() / u128::from(self.frames.max(1));
        Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX))
    }
}

/// Durations as whole nanoseconds on the wire.
mod nanos {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_nanos(u64::deserialize(d)?))
    }
}

impl ControlMessage {
    /// The message as its control payload.
    pub(crate) fn to_payload(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a control message serializes")
    }

    /// Parses a control payload; unknown or malformed messages are logged and skipped.
    pub(crate) fn parse(node_id: &str, payload: &[u8]) -> Option<Self> {
        match serde_json::from_slice(payload) {
            Ok(message) => Some(message),
            Err(e) => {
                tracing::warn!(node_id, error = %e, payload = %String::from_utf8_lossy(payload), "unreadable control message");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_messages_parse() {
        assert_eq!(
            ControlMessage::parse("n", br#"{"type":"ready","pid":7,"python":"3.11"}"#),
            Some(ControlMessage::Ready {
                pid: Some(7),
                cpu_ns: None
            })
        );
        let err = ControlMessage::parse(
            "n",
            br#"{"type":"error","sequence":4,"error":"ValueError: x","traceback":"tb"}"#,
        )
        .unwrap();
        assert!(matches!(
            err,
            ControlMessage::Error {
                sequence: Some(4),
                ..
            }
        ));
        assert_eq!(ControlMessage::parse("n", b"not json"), None);
        let lost = ControlMessage::Lost {
            input: "s_a_output".into(),
            expected: 3,
            got: 5,
        };
        assert_eq!(ControlMessage::parse("n", &lost.to_payload()), Some(lost));
        let stats = ControlMessage::parse(
            "n",
            br#"{"type":"stats","processed":4,"errors":1,"cpu_ns":2000000,"busy_ns":400000,"calls":4,"recent":4,"p50_ns":90000,"p99_ns":150000,"max_ns":150000}"#,
        );
        let Some(ControlMessage::Stats(stats)) = stats else {
            panic!("stats did not parse: {stats:?}");
        };
        assert_eq!(stats.frames, 4);
        assert_eq!(stats.cpu, Duration::from_millis(2));
        assert_eq!(stats.mean(), Duration::from_micros(100));
        assert_eq!(stats.p99, Duration::from_micros(150));
    }
}
