//! Control messages a runner sends to the host (see `docs/PROTOCOL.md`).

use serde::Deserialize;

/// One message on a node's control channel.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ControlMessage {
    /// Initialized, every channel open.
    Ready {
        #[serde(default)]
        pid: Option<u64>,
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
    /// About to exit cleanly.
    Stopped {
        #[serde(default)]
        processed: u64,
    },
}

impl ControlMessage {
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
            Some(ControlMessage::Ready { pid: Some(7) })
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
    }
}
