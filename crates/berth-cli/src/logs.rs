//! `berth logs SESSION [NODE] [--follow]`: a running session's node output, a line each with
//! its time, session, node and stream. A container node's come from Docker (a shared
//! container's output holds every attached session's lines, so all of it is shown, and said
//! so); a host-process node's from the file its session writes them to.

use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, bail};
use berth::status::{NodeStatus, SessionStatus, running_sessions};
use berth_backend::{LogLine, LogStream, read_log_line};

/// How often a followed log file is looked at for new lines.
const FOLLOW_EVERY: Duration = Duration::from_millis(200);

/// Options of `berth logs`.
#[derive(clap::Args)]
pub struct LogsArgs {
    /// The session (its id, or the start of it, as `berth ps` shows).
    session: String,
    /// One node of it; all of them when left out.
    node: Option<String>,
    /// Keep printing new lines until the session ends.
    #[arg(long, short)]
    follow: bool,
}

/// Prints the logs of the chosen nodes.
pub fn logs(args: LogsArgs) -> anyhow::Result<()> {
    let session = find_session(&args.session)?;
    let nodes: Vec<&NodeStatus> = match &args.node {
        Some(id) => match session.nodes.iter().find(|n| &n.node_id == id) {
            Some(node) => vec![node],
            None => bail!(
                "session {} has no node `{id}`; its nodes: {}",
                session.session_id,
                session
                    .nodes
                    .iter()
                    .map(|n| n.node_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        None => session.nodes.iter().collect(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let tasks: Vec<_> = nodes
            .into_iter()
            .map(|node| print_node(&session, node, args.follow))
            .collect();
        for result in futures_util::future::join_all(tasks).await {
            result?;
        }
        Ok(())
    })
}

/// The running session named by `wanted`, or its only one starting so.
fn find_session(wanted: &str) -> anyhow::Result<SessionStatus> {
    let sessions = running_sessions();
    if let Some(exact) = sessions.iter().find(|s| s.session_id == wanted) {
        return Ok(exact.clone());
    }
    let matching: Vec<&SessionStatus> = sessions
        .iter()
        .filter(|s| s.session_id.starts_with(wanted))
        .collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no running session `{wanted}`; `berth ps` lists the sessions that run"),
        many => bail!(
            "`{wanted}` names {} sessions ({}); give more of the id",
            many.len(),
            many.iter()
                .map(|s| s.session_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

async fn print_node(
    session: &SessionStatus,
    node: &NodeStatus,
    follow: bool,
) -> anyhow::Result<()> {
    let print = |line: LogLine| {
        let stream = match line.stream {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        };
        println!(
            "{} {} {} {stream}: {}",
            line.timestamp.as_deref().unwrap_or("-"),
            session.session_id,
            node.node_id,
            line.text
        );
    };
    match node.backend.as_str() {
        "docker" => {
            if node.shared {
                eprintln!(
                    "note: node {} runs in a container shared with other sessions; its output \
                     holds the lines of all of them",
                    node.node_id
                );
            }
            let docker = berth_docker::DockerBackend::connect().await?;
            let mut sink = |line| print(line);
            let read = docker.read_logs(&node.id, follow, &mut sink);
            if follow {
                // A shared container outlives the session: stop with the session.
                tokio::select! {
                    read = read => read?,
                    () = session_ended(&session.session_id) => {}
                }
            } else {
                read.await?;
            }
        }
        _ => match &node.log_file {
            Some(path) => follow_file(path, &session.session_id, follow, print).await?,
            None => println!(
                "- {} {} runs on the host's own threads: its lines go to the host's log \
                 (RUST_LOG=berth::node=info)",
                session.session_id, node.node_id
            ),
        },
    }
    Ok(())
}

/// Returns once session `id` no longer runs.
async fn session_ended(id: &str) {
    while running_sessions().iter().any(|s| s.session_id == id) {
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}

/// Prints the lines of a log file, and with `follow` the lines added later, until the session
/// no longer runs.
async fn follow_file(
    path: &std::path::Path,
    session_id: &str,
    follow: bool,
    mut print: impl FnMut(LogLine),
) -> anyhow::Result<()> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot open the node's log file {}", path.display()))?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader.read_until(b'\n', &mut line)?;
        if read > 0 && line.ends_with(b"\n") {
            let text = String::from_utf8_lossy(&line);
            if let Some(parsed) = read_log_line(text.trim_end_matches('\n')) {
                print(parsed);
            }
            continue;
        }
        if read > 0 {
            // A line still being written: read it again whole next time.
            reader.seek_relative(-(read as i64))?;
        }
        if !follow
            || !running_sessions()
                .iter()
                .any(|s| s.session_id == session_id)
        {
            return Ok(());
        }
        tokio::time::sleep(FOLLOW_EVERY).await;
    }
}
