//! `berth ps`: the sessions that run now and their nodes, from the status each session writes
//! ([`berth::status`]) and the node's own cgroup or process, measured here; with Docker's
//! labels, the Berth containers no running session claims.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use berth::status::{SessionStatus, age, running_sessions};
use berth_resources::{Sampler, Usage};
use serde_json::json;

/// A session's status older than this is marked: its owner has not sent or received since.
const STALE_AFTER: Duration = Duration::from_secs(5);

/// Options of `berth ps`.
#[derive(clap::Args)]
pub struct PsArgs {
    /// Redraw every interval until Ctrl-C, like `docker stats` (with --json: a document a line).
    #[arg(long)]
    watch: bool,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
    /// How long CPU % is measured over (e.g. 500ms, 2s).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    interval: Duration,
}

/// One node as `berth ps` shows it.
struct Row<'a> {
    session: &'a SessionStatus,
    node: &'a berth::status::NodeStatus,
    shared_by: usize,
    usage: Option<Usage>,
    cpu_percent: Option<f64>,
}

/// Lists the running sessions' nodes, once or (with `--watch`) until interrupted.
pub fn ps(args: PsArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut previous: HashMap<(String, String), (Usage, Instant)> = HashMap::new();
    let mut first = true;
    loop {
        let sessions = running_sessions();
        if first {
            // CPU % needs two readings: take the first one, wait one interval.
            remember(&sessions, &mut previous);
            std::thread::sleep(args.interval);
            first = false;
        }
        let sessions = running_sessions();
        let rows = rows(&sessions, &mut previous);
        let unclaimed = runtime.block_on(unclaimed_containers(&sessions));
        if args.json {
            println!("{}", serde_json::to_string(&to_json(&rows, &unclaimed))?);
        } else {
            if args.watch {
                print!("\x1b[2J\x1b[H"); // clear the screen, as `watch` does
            }
            print_table(&rows, &unclaimed);
        }
        if !args.watch {
            return Ok(());
        }
        std::thread::sleep(args.interval);
    }
}

/// Takes a reading of every node, for the next CPU %.
fn remember(
    sessions: &[SessionStatus],
    previous: &mut HashMap<(String, String), (Usage, Instant)>,
) {
    for session in sessions {
        for node in &session.nodes {
            if let Some(usage) = node.sampler.as_ref().and_then(|s| s.sample().ok()) {
                previous.insert(
                    (session.session_id.clone(), node.node_id.clone()),
                    (usage, Instant::now()),
                );
            }
        }
    }
}

fn rows<'a>(
    sessions: &'a [SessionStatus],
    previous: &mut HashMap<(String, String), (Usage, Instant)>,
) -> Vec<Row<'a>> {
    // Nodes of several sessions served by one container.
    let mut serving: HashMap<(&str, &str), usize> = HashMap::new();
    for node in sessions.iter().flat_map(|s| &s.nodes) {
        if node.backend != "native" {
            *serving.entry((&node.backend, &node.id)).or_default() += 1;
        }
    }
    let mut rows = Vec::new();
    for session in sessions {
        for node in &session.nodes {
            let usage = node.sampler.as_ref().and_then(|s| s.sample().ok());
            let key = (session.session_id.clone(), node.node_id.clone());
            let cpu_percent = match (usage, previous.get(&key)) {
                (Some(now), Some((then, at))) => Some(now.cpu_percent_since(then, at.elapsed())),
                _ => None,
            };
            if let Some(now) = usage {
                previous.insert(key, (now, Instant::now()));
            }
            rows.push(Row {
                session,
                node,
                shared_by: serving
                    .get(&(node.backend.as_str(), node.id.as_str()))
                    .copied()
                    .unwrap_or(1),
                usage,
                cpu_percent,
            });
        }
    }
    rows
}

/// Berth containers that no running session's node runs in and whose owner is gone (or that
/// are starting or being removed), when Docker answers. A live owner's container that no
/// session claims (a warm container, a runtime's network holder) is in use, not listed.
async fn unclaimed_containers(sessions: &[SessionStatus]) -> Vec<berth_docker::ManagedContainer> {
    let Ok(docker) = berth_docker::DockerBackend::connect().await else {
        return Vec::new();
    };
    let Ok(containers) = docker.managed_containers().await else {
        return Vec::new();
    };
    containers
        .into_iter()
        .filter(|c| {
            !sessions
                .iter()
                .flat_map(|s| &s.nodes)
                .any(|n| n.backend == "docker" && n.id == c.id)
                && !berth::status::owner_running(&c.session)
        })
        .collect()
}

fn to_json(rows: &[Row<'_>], unclaimed: &[berth_docker::ManagedContainer]) -> serde_json::Value {
    let mut sessions: Vec<serde_json::Value> = Vec::new();
    let mut current: Option<&str> = None;
    for row in rows {
        if current != Some(row.session.session_id.as_str()) {
            current = Some(&row.session.session_id);
            sessions.push(json!({
                "session_id": row.session.session_id,
                "pipeline": row.session.pipeline,
                "host_pid": row.session.host_pid,
                "uptime_s": age(row.session.started_unix_ms).as_secs_f64(),
                "status_age_s": age(row.session.written_unix_ms).as_secs_f64(),
                "nodes": [],
            }));
        }
        let usage = row.usage;
        let runner = row.node.runner;
        let node = json!({
            "node_id": row.node.node_id,
            "backend": row.node.backend,
            "id": row.node.id,
            "image": row.node.image,
            "shared_by": row.shared_by,
            "state": row.node.state.as_str(),
            "restarts": row.node.restarts,
            "uptime_s": age(row.node.started_unix_ms).as_secs_f64(),
            "measured": row.node.sampler.as_ref().map(|s| s.source()),
            "cpu_percent": row.cpu_percent,
            "cpu_seconds": usage.map(|u| u.cpu.as_secs_f64()),
            "memory_bytes": usage.map(|u| u.memory_bytes),
            "memory_peak_bytes": usage.and_then(|u| u.memory_peak_bytes),
            "memory_limit_bytes": usage.and_then(|u| u.memory_limit_bytes),
            "memory_limit_hits": usage.and_then(|u| u.memory_limit_hits),
            "tasks": usage.and_then(|u| u.tasks),
            "frames": runner.map(|r| r.frames),
            "node_cpu_seconds": runner.map(|r| r.cpu.as_secs_f64()),
            "process_p50_us": runner.map(|r| r.p50.as_secs_f64() * 1e6),
            "process_p99_us": runner.map(|r| r.p99.as_secs_f64() * 1e6),
        });
        if let Some(nodes) = sessions
            .last_mut()
            .and_then(|s| s.get_mut("nodes"))
            .and_then(|n| n.as_array_mut())
        {
            nodes.push(node);
        }
    }
    json!({
        "sessions": sessions,
        "unclaimed_containers": unclaimed.iter().map(|c| json!({
            "id": c.id,
            "session": c.session,
            "node": c.node,
            "image": c.image,
            "state": c.state,
        })).collect::<Vec<_>>(),
    })
}

fn print_table(rows: &[Row<'_>], unclaimed: &[berth_docker::ManagedContainer]) {
    if rows.is_empty() {
        println!("no Berth session runs now");
    } else {
        println!(
            "{:<9} {:<14} {:<8} {:<12} {:<22} {:>6} {:<11} {:>8} {:>8} {:>6} {:>19} {:>8} {:>12}",
            "SESSION",
            "NODE",
            "BACKEND",
            "ID",
            "IMAGE",
            "SHARED",
            "STATE",
            "RESTARTS",
            "UPTIME",
            "CPU %",
            "MEM / LIMIT",
            "FRAMES",
            "p50/p99 µs"
        );
    }
    let mut any_stale = false;
    for row in rows {
        let usage = row.usage;
        let memory = usage.map_or_else(
            || "-".to_owned(),
            |u| {
                let limit = u.memory_limit_bytes.map_or_else(|| "-".into(), mib);
                format!("{} / {limit}", mib(u.memory_bytes))
            },
        );
        let runner = row.node.runner;
        let stale = age(row.session.written_unix_ms) > STALE_AFTER;
        any_stale |= stale;
        let state = format!(
            "{}{}",
            row.node.state.as_str(),
            if stale { "*" } else { "" }
        );
        println!(
            "{:<9} {:<14} {:<8} {:<12} {:<22} {:>6} {:<11} {:>8} {:>8} {:>6} {:>19} {:>8} {:>12}",
            row.session.session_id,
            row.node.node_id,
            row.node.backend,
            short(&row.node.id),
            row.node.image.as_deref().unwrap_or("-"),
            row.shared_by,
            state,
            row.node.restarts,
            uptime(age(row.node.started_unix_ms)),
            row.cpu_percent
                .map_or_else(|| "-".to_owned(), |c| format!("{c:.1}")),
            memory,
            runner.map_or_else(|| "-".to_owned(), |r| r.frames.to_string()),
            runner.map_or_else(
                || "-".to_owned(),
                |r| format!(
                    "{:.0}/{:.0}",
                    r.p50.as_secs_f64() * 1e6,
                    r.p99.as_secs_f64() * 1e6
                )
            ),
        );
    }
    if any_stale {
        println!(
            "* state, frames and process() times as of the session's last status (over {} s \
             ago: it neither sends nor receives); CPU and memory are measured now",
            STALE_AFTER.as_secs()
        );
    }
    if !unclaimed.is_empty() {
        println!(
            "\nBerth containers no running session claims (its owner died; the next session start sweeps them):"
        );
        for c in unclaimed {
            println!(
                "  {} session {} node {} image {} ({})",
                short(&c.id),
                c.session,
                c.node,
                c.image,
                c.state
            );
        }
    }
}

/// A container id cut to 12 characters, as `docker ps` shows it.
fn short(id: &str) -> &str {
    if id.len() > 12 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..12]
    } else {
        id
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}MiB", bytes as f64 / 1048576.0)
}

/// `1h02m`, `3m05s`, `42s`.
fn uptime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}
