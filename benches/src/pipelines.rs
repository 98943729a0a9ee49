//! Bench pipelines: a manifest written into a temporary folder next to a copy of the bench
//! nodes (`benches/nodes/*.py`, found by the runner in `nodes/`), and helpers to start, drive
//! and stop sessions over them.

use std::time::Duration;

use anyhow::{Context, bail};
use berth::{Manifest, Session, SessionOptions};

use crate::{SAMPLE_RATE, leaks};

/// The Python node every Python case runs: returns its input unchanged.
pub const PYTHON_NODE: &str = "BenchEcho";

/// A manifest in a temporary folder (removed on drop) whose `nodes/` holds the bench nodes and
/// whose `trace/` (empty, writable by any user) takes step traces.
pub struct Pipeline {
    /// The folder.
    pub dir: tempfile::TempDir,
    /// The parsed manifest.
    pub manifest: Manifest,
}

/// Writes `yaml` as `pipeline.yaml` next to a copy of the bench nodes and loads it.
pub fn pipeline(yaml: &str) -> anyhow::Result<Pipeline> {
    use std::os::unix::fs::PermissionsExt;
    // Modes set as each folder is made, not left to the umask: a container (capabilities
    // dropped) must search both.
    let dir = tempfile::Builder::new().prefix("berth-bench-").tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    let nodes = dir.path().join("nodes");
    std::fs::create_dir(&nodes)?;
    std::fs::set_permissions(&nodes, std::fs::Permissions::from_mode(0o755))?;
    // Where traced runners write their steps, whatever user a container runs as.
    let trace = dir.path().join("trace");
    std::fs::create_dir(&trace)?;
    std::fs::set_permissions(&trace, std::fs::Permissions::from_mode(0o777))?;
    let source = crate::package_dir().join("nodes");
    for entry in std::fs::read_dir(&source)
        .with_context(|| format!("reading {}", source.display()))?
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "py") {
            std::fs::copy(entry.path(), nodes.join(entry.file_name()))?;
        }
    }
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, yaml)?;
    let manifest = Manifest::from_path(&file).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Pipeline { dir, manifest })
}

/// One native Rust node in the host: the built-in `Gain` at 1.0 (an identity).
pub fn native_yaml() -> String {
    r#"version: "v1"
metadata: { name: "bench-native" }
nodes:
  - id: echo
    node_type: Gain
    params: { gain: 1.0 }
connections:
  - { from: mic, to: echo }
"#
    .to_owned()
}

/// One Python node as a host subprocess.
pub fn process_yaml() -> String {
    format!(
        r#"version: "v1"
metadata: {{ name: "bench-process" }}
nodes:
  - id: echo
    node_type: {PYTHON_NODE}
    runtime_hint: cpython
connections:
  - {{ from: mic, to: echo }}
"#
    )
}

/// `count` Python nodes in containers, chained `mic → echo1 → … → echo{count}`. The same
/// image for each; every node gets its own `env` (`BENCH_STAGE`), so each is its own
/// container configuration.
pub fn containers_yaml(count: usize) -> String {
    chain_yaml(count, false)
}

/// [`containers_yaml`] with every runner tracing its steps ([`crate::steps`]) into the
/// pipeline's `trace/` folder (mounted at `/trace`), which [`pipeline`] makes.
pub fn traced_containers_yaml(count: usize) -> String {
    chain_yaml(count, true)
}

fn chain_yaml(count: usize, traced: bool) -> String {
    let mut yaml =
        format!("version: \"v1\"\nmetadata: {{ name: \"bench-containers-{count}\" }}\nnodes:\n");
    let (trace_env, trace_volume) = if traced {
        (
            format!(", {}: \"/trace\"", crate::steps::ENV),
            "\n        - { host_path: \"./trace\", container_path: \"/trace\" }",
        )
    } else {
        (String::new(), "")
    };
    for i in 1..=count {
        yaml.push_str(&format!(
            r#"  - id: echo{i}
    node_type: {PYTHON_NODE}
    docker:
      python_version: "3.11"
      env: {{ BENCH_STAGE: "{i}"{trace_env} }}
      volumes:
        - {{ host_path: "./nodes", container_path: "/app/nodes", read_only: true }}{trace_volume}
"#
        ));
    }
    yaml.push_str("connections:\n  - { from: mic, to: echo1 }\n");
    for i in 2..=count {
        yaml.push_str(&format!("  - {{ from: echo{}, to: echo{i} }}\n", i - 1));
    }
    yaml
}

/// Starts a session on `pipeline` and remembers it for the final leak check.
pub fn start(
    rt: &tokio::runtime::Runtime,
    pipeline: &Pipeline,
    options: SessionOptions,
) -> anyhow::Result<Session> {
    let session = rt
        .block_on(Session::start(&pipeline.manifest, options))
        .map_err(|e| anyhow::anyhow!("starting `{}`: {e}", pipeline.manifest.metadata.name))?;
    leaks::track(session.id());
    Ok(session)
}

/// Starts a session on `pipeline` from `runtime` and remembers it for the final leak check.
pub fn start_from(
    rt: &tokio::runtime::Runtime,
    runtime: &berth::Runtime,
    pipeline: &Pipeline,
    options: SessionOptions,
) -> anyhow::Result<Session> {
    let session = rt
        .block_on(runtime.session(&pipeline.manifest, options))
        .map_err(|e| anyhow::anyhow!("starting `{}`: {e}", pipeline.manifest.metadata.name))?;
    leaks::track(session.id());
    Ok(session)
}

/// Stops `session` and checks every frame came back and nothing was lost.
pub fn stop(rt: &tokio::runtime::Runtime, session: Session) -> anyhow::Result<()> {
    let id = session.id().clone();
    let stats = rt
        .block_on(session.stop())
        .map_err(|e| anyhow::anyhow!("stopping session {id}: {e}"))?;
    if stats.sent != stats.received || stats.lost != 0 || stats.node_errors != 0 {
        bail!(
            "session {id}: sent {}, received {}, lost {}, node errors {}",
            stats.sent,
            stats.received,
            stats.lost,
            stats.node_errors
        );
    }
    let left = leaks::check(&id);
    if !left.is_empty() {
        bail!("session {id} left {left:?}");
    }
    Ok(())
}

/// One frame into `mic` and back; panics if it does not come back intact within 5 s.
pub fn round_trip(session: &mut Session, frame: &[f32]) {
    session
        .send_audio("mic", frame, SAMPLE_RATE, 1)
        .expect("send a frame");
    let len = session
        .recv_with(Duration::from_secs(5), |out| out.payload.len())
        .expect("no node error")
        .expect("the frame back within 5 s");
    assert_eq!(
        len,
        std::mem::size_of_val(frame),
        "the whole frame came back"
    );
}

/// One frame of `samples` samples into `mic`, filled in place, and back. Only the frame's
/// first and last sample are written (`mark` and `-mark`; a real source writes all of them);
/// panics unless the reply has the frame's length and both marks within 5 s.
pub fn round_trip_in_place(session: &mut Session, samples: usize, mark: f32) {
    session
        .send_audio_with("mic", samples, SAMPLE_RATE, 1, |frame| {
            frame[0] = mark;
            frame[samples - 1] = -mark;
        })
        .expect("send a frame");
    let ends = session
        .recv_with(Duration::from_secs(5), |out| {
            out.audio().map(|a| (a.len(), a[0], a[a.len() - 1]))
        })
        .expect("no node error")
        .expect("the frame back within 5 s");
    assert_eq!(
        ends,
        Some((samples, mark, -mark)),
        "the frame's ends came back"
    );
}

/// The CPU time so far of every out-of-process node of `session` together (processes,
/// containers); `None` when none is measured (native nodes run on the host's threads).
pub fn nodes_cpu(session: &mut Session) -> Option<Duration> {
    session
        .usage()
        .into_iter()
        .filter_map(|node| node.usage.map(|u| u.cpu))
        .reduce(|a, b| a + b)
}

/// The CPUs each out-of-process node of `session` may run on (`Cpus_allowed_list` of every
/// process labelled with the session: a subprocess, or a container's init and runner).
pub fn node_cpus(session: &Session) -> Vec<(u32, String)> {
    leaks::session_processes(session.id().as_str())
        .into_iter()
        .filter_map(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let cpus = status
                .lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))?
                .trim()
                .to_owned();
            Some((pid, cpus))
        })
        .collect()
}
