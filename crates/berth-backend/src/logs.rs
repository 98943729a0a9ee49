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
    /// Where every line is also appended, for readers in other processes (`berth logs`), and
    /// how many bytes this tail wrote there.
    file: Option<Arc<Mutex<(std::fs::File, u64)>>>,
}

/// The most a log file is given by one runner; past it one last line says so.
pub const LOG_FILE_LIMIT: u64 = 64 << 20;

impl LogTail {
    /// A tail keeping the last `capacity` lines of `node_id` in `session_id`.
    pub fn new(session_id: &str, node_id: &str, capacity: usize) -> Self {
        Self {
            session_id: session_id.into(),
            node_id: node_id.into(),
            lines: Arc::new(Mutex::new(VecDeque::with_capacity(capacity))),
            capacity,
            file: None,
        }
    }

    /// Also appends every line to `path` (created, with its folder, readable by the user
    /// alone), as `<RFC 3339 time> <stdout|stderr> <text>`, each line in one write so
    /// runners appending to one file never interleave within a line; at most
    /// [`LOG_FILE_LIMIT`] bytes. [`read_log_line`] reads it back.
    pub fn with_file(mut self, path: &std::path::Path) -> std::io::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        self.file = Some(Arc::new(Mutex::new((file, 0))));
        Ok(self)
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
        if let Some(file) = &self.file {
            use std::io::Write;
            let time = match &line.timestamp {
                Some(t) => t.clone(),
                None => humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string(),
            };
            let stream = match line.stream {
                LogStream::Stdout => "stdout",
                LogStream::Stderr => "stderr",
            };
            let mut file = file.lock().unwrap_or_else(|p| p.into_inner());
            let (file, written) = &mut *file;
            if *written < LOG_FILE_LIMIT {
                let mut text = format!("{time} {stream} {}\n", line.text);
                *written += text.len() as u64;
                if *written >= LOG_FILE_LIMIT {
                    text = format!(
                        "{time} stderr berth: the log file is full ({} MiB); later lines are \
                         only in the host's log\n",
                        LOG_FILE_LIMIT >> 20
                    );
                }
                // A full disk must not stop the node; the in-memory tail still has the line.
                let _ = file.write_all(text.as_bytes());
            }
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

/// Reads one line of a file written by [`LogTail::with_file`].
pub fn read_log_line(text: &str) -> Option<LogLine> {
    let (timestamp, rest) = text.split_once(' ')?;
    let (stream, text) = rest.split_once(' ').unwrap_or((rest, ""));
    let stream = match stream {
        "stdout" => LogStream::Stdout,
        "stderr" => LogStream::Stderr,
        _ => return None,
    };
    Some(LogLine {
        stream,
        text: text.to_owned(),
        timestamp: Some(timestamp.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_file_reads_back_line_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/n.log");
        let tail = LogTail::new("s", "n", 4).with_file(&path).unwrap();
        tail.push(LogLine {
            stream: LogStream::Stderr,
            text: "berth[n] ready: a b".into(),
            timestamp: None,
        });
        tail.push(LogLine {
            stream: LogStream::Stdout,
            text: String::new(),
            timestamp: Some("2026-12-02T03:00:00.000001Z".into()),
        });
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<LogLine> = text.lines().map(|l| read_log_line(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].stream, LogStream::Stderr);
        assert_eq!(lines[0].text, "berth[n] ready: a b");
        assert!(humantime::parse_rfc3339(lines[0].timestamp.as_deref().unwrap()).is_ok());
        assert_eq!(lines[1].text, "");
        assert_eq!(
            lines[1].timestamp.as_deref(),
            Some("2026-12-02T03:00:00.000001Z")
        );
    }
}
