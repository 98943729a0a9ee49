//! `steady-memory`: streams paced 20 ms frames through one Python node in a container for a
//! while and samples memory every second: the host process's RSS (`/proc/self/status`), the
//! runner's RSS and the container's memory as `docker stats` counts it (cgroup usage minus
//! inactive file cache). Prints a table and the growth after a warm-up (last sample minus the
//! first one after it), and saves the result for the benchmarks page
//! (`target/steady-memory.json`). It reports; it does not judge.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};

/// One frame: 960 samples, 20 ms at 48 kHz.
const FRAME_SAMPLES: usize = 960;
const SAMPLE_RATE: u32 = 48_000;
const PERIOD: Duration = Duration::from_millis(20);
/// The node: the benchmarks' Python identity node.
const NODE_SOURCE: &str = include_str!("../../benches/nodes/bench_nodes.py");

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    second: u64,
    frames: u64,
    host_rss: Option<u64>,
    runner_rss: Option<u64>,
    container: Option<u64>,
    p50_us: f64,
    max_us: f64,
}

/// Streams frames for `seconds` through a container node and reports memory growth.
pub(crate) fn steady_memory(seconds: u64) -> anyhow::Result<()> {
    let seconds = seconds.max(2);
    let warm_up = (seconds / 6).clamp(1, 10);
    let image = std::env::var("BERTH_BENCH_IMAGE")
        .ok()
        .filter(|i| !i.is_empty());
    let dir = tempfile::Builder::new().prefix("berth-steady-").tempdir()?;
    std::fs::create_dir(dir.path().join("nodes"))?;
    std::fs::write(dir.path().join("nodes/bench_nodes.py"), NODE_SOURCE)?;
    let base_image = image
        .as_deref()
        .map(|i| format!("\n      base_image: \"{i}\""))
        .unwrap_or_default();
    let yaml = format!(
        r#"version: "v1"
metadata: {{ name: "steady-memory" }}
nodes:
  - id: echo
    node_type: BenchEcho
    docker:
      python_version: "3.11"{base_image}
      volumes:
        - {{ host_path: "./nodes", container_path: "/app/nodes", read_only: true }}
connections:
  - {{ from: mic, to: echo }}
"#
    );
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, yaml)?;
    let manifest = berth::Manifest::from_path(&file).map_err(|e| anyhow::anyhow!("{e}"))?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Links the Docker backend, so the session finds it by name.
    let _ = berth_docker::DEFAULT_HOST;
    rt.block_on(berth_docker::DockerBackend::connect())
        .context("the Docker daemon is needed for steady-memory")?;
    println!(
        "starting one container node ({})",
        image.as_deref().unwrap_or("berth/python:3.11")
    );
    let mut session = rt
        .block_on(berth::Session::start(
            &manifest,
            berth::SessionOptions::default(),
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let runner = runner_pid(session.id().as_str());
    if runner.is_none() {
        eprintln!("warning: the runner's process was not found; container memory will be missing");
    }
    println!(
        "streaming 20 ms frames for {seconds} s (warm-up {warm_up} s), sampling every second\n"
    );
    println!(
        "{:>5} {:>7} {:>14} {:>16} {:>19} {:>12} {:>12}",
        "t (s)",
        "frames",
        "host RSS KiB",
        "runner RSS KiB",
        "container mem KiB",
        "rt p50 µs",
        "rt max µs"
    );

    let frame: Vec<f32> = (0..FRAME_SAMPLES)
        .map(|i| (i as f32 * 0.01).sin() * 0.5)
        .collect();
    let mut rows = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        let started = Instant::now();
        let mut next = started + PERIOD;
        let mut frames = 0u64;
        let mut window: Vec<f64> = Vec::with_capacity(64);
        for second in 1..=seconds {
            let until = started + Duration::from_secs(second);
            while Instant::now() < until {
                let now = Instant::now();
                if next > now {
                    std::thread::sleep(next - now);
                }
                next += PERIOD;
                let sent = Instant::now();
                session
                    .send_audio("mic", &frame, SAMPLE_RATE, 1)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let len = session
                    .recv_with(Duration::from_secs(5), |out| out.payload.len())
                    .map_err(|e| anyhow::anyhow!("{e}"))?
                    .context("no frame back within 5 s")?;
                window.push(sent.elapsed().as_secs_f64() * 1e6);
                if len != FRAME_SAMPLES * 4 {
                    bail!("a frame of {len} bytes came back");
                }
                frames += 1;
            }
            window.sort_by(f64::total_cmp);
            let row = Row {
                second,
                frames,
                host_rss: vm_rss(Path::new("/proc/self/status")),
                runner_rss: runner
                    .and_then(|pid| vm_rss(&PathBuf::from(format!("/proc/{pid}/status")))),
                container: runner.and_then(container_memory),
                p50_us: window.get(window.len() / 2).copied().unwrap_or(0.0),
                max_us: window.last().copied().unwrap_or(0.0),
            };
            window.clear();
            println!(
                "{:>5} {:>7} {:>14} {:>16} {:>19} {:>12.1} {:>12.1}",
                row.second,
                row.frames,
                kib(row.host_rss),
                kib(row.runner_rss),
                kib(row.container),
                row.p50_us,
                row.max_us
            );
            rows.push(row);
        }
        Ok(())
    })();
    let stats = rt
        .block_on(session.stop())
        .map_err(|e| anyhow::anyhow!("{e}"));
    result?;
    let stats = stats?;
    println!(
        "\nsession stopped: sent {}, received {}, lost {}",
        stats.sent, stats.received, stats.lost
    );

    let after: Vec<&Row> = rows.iter().filter(|r| r.second > warm_up).collect();
    let growth = |pick: fn(&Row) -> Option<u64>| -> Option<i64> {
        let first = after.first().and_then(|r| pick(r))?;
        let last = after.last().and_then(|r| pick(r))?;
        Some(last as i64 - first as i64)
    };
    let host = growth(|r| r.host_rss);
    let runner_growth = growth(|r| r.runner_rss);
    let container = growth(|r| r.container);
    let span = after
        .first()
        .zip(after.last())
        .map_or(0, |(a, b)| b.second - a.second);
    println!("growth over the last {span} s (after {warm_up} s of warm-up):");
    println!("  host RSS:         {}", signed_kib(host));
    println!("  runner RSS:       {}", signed_kib(runner_growth));
    println!("  container memory: {}", signed_kib(container));

    let json = serde_json::json!({
        "seconds": seconds,
        "warm_up_seconds": warm_up,
        "span_seconds": span,
        "frames": stats.received,
        "lost": stats.lost,
        "image": image.as_deref().unwrap_or("berth/python:3.11"),
        "host_rss_growth_bytes": host,
        "runner_rss_growth_bytes": runner_growth,
        "container_memory_growth_bytes": container,
        "first": after.first().map(|r| row_json(r)),
        "last": after.last().map(|r| row_json(r)),
        "measured_unix_seconds": SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    });
    let out = target_dir().join("steady-memory.json");
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&json)?)?;
    println!("saved {}", out.display());
    Ok(())
}

fn row_json(row: &Row) -> serde_json::Value {
    serde_json::json!({
        "second": row.second,
        "host_rss_bytes": row.host_rss,
        "runner_rss_bytes": row.runner_rss,
        "container_memory_bytes": row.container,
    })
}

/// `$CARGO_TARGET_DIR`, else the workspace's `target/`.
pub(crate) fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("xtask lives in the workspace")
            .join("target"),
    }
}

fn kib(bytes: Option<u64>) -> String {
    bytes.map_or_else(|| "-".into(), |b| (b / 1024).to_string())
}

fn signed_kib(bytes: Option<i64>) -> String {
    bytes.map_or_else(
        || "not measured".into(),
        |b| {
            format!(
                "{:+} KiB ({:+.3} MiB)",
                b / 1024,
                b as f64 / (1 << 20) as f64
            )
        },
    )
}

/// `VmRSS` of a `/proc/*/status` file, in bytes.
fn vm_rss(status: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The runner of session `session` as the host sees it: the Python process labelled
/// `BERTH_SESSION_ID` running `berth.runner` (not the container's init, whose command line
/// names the runner too).
fn runner_pid(session: &str) -> Option<u32> {
    let label = format!("BERTH_SESSION_ID={session}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .find(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut args = cmdline.split(|b| *b == 0).map(String::from_utf8_lossy);
            let program = args.next().unwrap_or_default();
            environ.split(|b| *b == 0).any(|v| v == label.as_bytes())
                && program.contains("python")
                && args.any(|a| a == "berth.runner")
        })
}

/// The memory of the cgroup `pid` is in, counted like `docker stats`: usage minus inactive
/// file cache (cgroup v1 `memory.usage_in_bytes` − `total_inactive_file`, v2 `memory.current`
/// − `inactive_file`).
fn container_memory(pid: u32) -> Option<u64> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        let path = path.trim_start_matches('/');
        if controllers.split(',').any(|c| c == "memory") {
            let dir = Path::new("/sys/fs/cgroup/memory").join(path);
            let usage = read_u64(&dir.join("memory.usage_in_bytes"))?;
            let inactive = stat(&dir.join("memory.stat"), "total_inactive_file").unwrap_or(0);
            return Some(usage.saturating_sub(inactive));
        }
        if controllers.is_empty() {
            let dir = Path::new("/sys/fs/cgroup").join(path);
            if let Some(usage) = read_u64(&dir.join("memory.current")) {
                let inactive = stat(&dir.join("memory.stat"), "inactive_file").unwrap_or(0);
                return Some(usage.saturating_sub(inactive));
            }
        }
    }
    None
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn stat(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}
