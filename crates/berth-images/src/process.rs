//! Runs host tools (mmdebstrap, pip, apt-get), forwarding their output as progress lines.

use std::collections::VecDeque;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use crate::Progress;
use crate::error::{ImageError, Result};

/// How many trailing output lines an error keeps.
const TAIL_LINES: usize = 60;

/// Runs `cmd` to completion. Each output line goes to `progress`; on failure the error carries
/// the last lines. `hint` says how to install the program if it is missing.
pub(crate) async fn run(
    step: &str,
    mut cmd: Command,
    hint: &str,
    progress: &dyn Progress,
) -> Result<()> {
    let program = cmd.as_std().get_program().to_string_lossy().into_owned();
    let command_line = std::iter::once(program.clone())
        .chain(
            cmd.as_std()
                .get_args()
                .map(|a| a.to_string_lossy().into_owned()),
        )
        .collect::<Vec<_>>()
        .join(" ");
    tracing::debug!(%command_line, "running host tool");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            ImageError::ToolMissing {
                tool: program.clone(),
                hint: hint.to_string(),
            }
        } else {
            ImageError::io(format!("starting `{program}` for {step}"), &program, e)
        }
    })?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (out_tail, err_tail) = tokio::join!(
        forward_lines(stdout, progress),
        forward_lines(stderr, progress)
    );
    let status = child
        .wait()
        .await
        .map_err(|e| ImageError::io(format!("waiting for `{program}`"), &program, e))?;
    if status.success() {
        return Ok(());
    }
    let mut log: Vec<String> = out_tail.into_iter().collect();
    log.extend(err_tail);
    Err(ImageError::ToolFailed {
        step: step.to_string(),
        command: command_line,
        status: status.to_string(),
        log: log.join("\n"),
    })
}

/// Sends each line to `progress` and returns the last [`TAIL_LINES`] lines.
async fn forward_lines<R: AsyncRead + Unpin>(
    reader: R,
    progress: &dyn Progress,
) -> VecDeque<String> {
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    let mut lines = BufReader::new(reader).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        progress.line(&line);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tail
}
