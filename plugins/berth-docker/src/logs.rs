//! Following a container's output and forwarding each line to its [`LogTail`].

use berth_backend::{LogLine, LogStream, LogTail};
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use tokio::sync::watch;

/// Follows the container's stdout and stderr (with Docker's timestamps) until it ends, then
/// flags `done`.
pub(crate) async fn forward(docker: Docker, id: String, tail: LogTail, done: watch::Sender<bool>) {
    if let Err(e) = read(&docker, &id, true, &mut |line| tail.push(line)).await {
        tracing::debug!(container_id = %id, error = %e, "log stream ended with an error");
    }
    let _ = done.send(true);
}

/// Reads the container's stdout and stderr, a line at a time with Docker's timestamp, into
/// `sink`: what it logged so far, and with `follow` everything after until it ends.
pub(crate) async fn read(
    docker: &Docker,
    id: &str,
    follow: bool,
    sink: &mut (dyn FnMut(LogLine) + Send),
) -> Result<(), bollard::errors::Error> {
    let options = LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        timestamps: true,
        ..LogsOptions::default()
    };
    let mut stream = docker.logs(id, Some(options));
    let mut lines = LineSplitter::default();
    let mut result = Ok(());
    while let Some(item) = stream.next().await {
        match item {
            Ok(LogOutput::StdOut { message }) => lines.push(LogStream::Stdout, &message, sink),
            Ok(LogOutput::StdErr { message }) => lines.push(LogStream::Stderr, &message, sink),
            Ok(LogOutput::Console { message }) => lines.push(LogStream::Stdout, &message, sink),
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    lines.finish(sink);
    result
}

/// Splits Docker log frames into lines, keeping each line's timestamp and joining the pieces
/// of a long line (Docker splits lines over 16 KiB into several frames).
#[derive(Default)]
pub(crate) struct LineSplitter {
    stdout: Option<(Option<String>, String)>,
    stderr: Option<(Option<String>, String)>,
}

impl LineSplitter {
    /// Takes one frame of `stream`; gives every line it completes to `sink`.
    pub(crate) fn push(
        &mut self,
        stream: LogStream,
        frame: &[u8],
        sink: &mut (dyn FnMut(LogLine) + Send),
    ) {
        let text = String::from_utf8_lossy(frame);
        let (timestamp, rest) = split_timestamp(&text);
        let pending = match stream {
            LogStream::Stdout => &mut self.stdout,
            LogStream::Stderr => &mut self.stderr,
        };
        let (timestamp, mut buffer) = match pending.take() {
            Some((first, mut buffer)) => {
                buffer.push_str(rest);
                (first.or(timestamp), buffer)
            }
            None => (timestamp, rest.to_owned()),
        };
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let line = line.trim_end_matches('\n').trim_end_matches('\r');
            sink(LogLine {
                stream,
                text: line.to_owned(),
                timestamp: timestamp.clone(),
            });
        }
        if !buffer.is_empty() {
            *pending = Some((timestamp, buffer));
        }
    }

    /// Gives `sink` whatever is left without a line break.
    pub(crate) fn finish(&mut self, sink: &mut (dyn FnMut(LogLine) + Send)) {
        for (stream, pending) in [
            (LogStream::Stdout, self.stdout.take()),
            (LogStream::Stderr, self.stderr.take()),
        ] {
            if let Some((timestamp, text)) = pending {
                sink(LogLine {
                    stream,
                    text,
                    timestamp,
                });
            }
        }
    }
}

/// Splits `2024-05-01T12:00:00.123456789Z rest` into the RFC 3339 time and the rest.
fn split_timestamp(text: &str) -> (Option<String>, &str) {
    if let Some((first, rest)) = text.split_once(' ') {
        let looks_like_time = first.len() >= 20
            && first.as_bytes()[..4].iter().all(u8::is_ascii_digit)
            && first.as_bytes()[10] == b'T'
            && (first.ends_with('Z')
                || first.as_bytes()[19..]
                    .iter()
                    .any(|b| matches!(b, b'+' | b'-')));
        if looks_like_time {
            return (Some(first.to_owned()), rest);
        }
    }
    (None, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_keep_their_timestamp_and_stream() {
        let tail = LogTail::new("s", "n", 10);
        let mut lines = LineSplitter::default();
        lines.push(
            LogStream::Stdout,
            b"2024-05-01T12:00:00.123456789Z hello world\n",
            &mut |l| tail.push(l),
        );
        lines.push(
            LogStream::Stderr,
            b"2024-05-01T12:00:01Z oops\r\n",
            &mut |l| tail.push(l),
        );
        let got = tail.lines();
        assert_eq!(got[0].text, "hello world");
        assert_eq!(
            got[0].timestamp.as_deref(),
            Some("2024-05-01T12:00:00.123456789Z")
        );
        assert_eq!(got[1].stream, LogStream::Stderr);
        assert_eq!(got[1].text, "oops");
    }

    #[test]
    fn split_long_lines_are_joined_and_leftovers_flushed() {
        let tail = LogTail::new("s", "n", 10);
        let mut lines = LineSplitter::default();
        lines.push(LogStream::Stdout, b"2024-05-01T12:00:00Z abc", &mut |l| {
            tail.push(l)
        });
        lines.push(LogStream::Stdout, b"2024-05-01T12:00:00Z def\n", &mut |l| {
            tail.push(l)
        });
        lines.push(
            LogStream::Stdout,
            b"2024-05-01T12:00:02Z no newline",
            &mut |l| tail.push(l),
        );
        assert_eq!(tail.lines().len(), 1);
        lines.finish(&mut |l| tail.push(l));
        let got = tail.lines();
        assert_eq!(got[0].text, "abcdef");
        assert_eq!(got[0].timestamp.as_deref(), Some("2024-05-01T12:00:00Z"));
        assert_eq!(got[1].text, "no newline");
    }

    #[test]
    fn text_without_a_timestamp_is_kept_whole() {
        assert_eq!(split_timestamp("plain text"), (None, "plain text"));
        assert_eq!(split_timestamp("short 1"), (None, "short 1"));
    }
}
