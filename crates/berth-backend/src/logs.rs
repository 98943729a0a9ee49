//! Forwarding a node's output to `tracing` and keeping its last lines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Which output stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of a node's output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// Where it came from.
    pub stream: LogStream,
    /// The text, without the line break.
    pub text: String,
    /// The backend's own timestamp, when it has one (e.g. Docker's RFC 3339 time).
    pub timestamp: Option<String>,
}

/// The last lines of a node's output, shared between the reader task and the handle.
#[derive(Clone, Debug)]
pub struct LogTail {
    session_id: Arc<str>,
    node_id: Arc<str>,
    lines: Arc<Mutex<VecDeque<LogLine>>>,
    capacity: usize,
}

impl LogTail {
    /// A tail keeping the last `capacity` lines of `node_id` in `session_id`.
    pub fn new(session_id: &str, node_id: &str, capacity: usize) -> Self {
        Self {
            session_id: session_id.into(),
            node_id: node_id.into(),
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
            capacity,
        }
    }

    /// Records a line and forwards it to `tracing` with the session and node ids.
    pub fn push(&self, line: LogLine) {
        let timestamp = line.timestamp.as_deref().unwrap_or("");
        match line.stream {
            LogStream::Stdout => tracing::info!(
                target: "berth::node", session_id = %self.session_id, node_id = %self.node_id,
                stream = "stdout", timestamp, "{}", line.text
            ),
            LogStream::Stderr => tracing::info!(
                target: "berth::node", session_id = %self.session_id, node_id = %self.node_id,
                stream = "stderr", timestamp, "{}", line.text
            ),
        }
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == self.capacity {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<LogLine> {
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The last `n` lines as text, for error messages.
    pub fn last_text(&self, n: usize) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines
            .iter()
            .skip(lines.len().saturating_sub(n))
            .map(|l| l.text.clone())
            .collect()
    }
}
