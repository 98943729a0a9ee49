//! `steady-memory`: streams paced 20 ms frames through one Python node in a container for a
//! while (60 s by default) and samples memory every second through `berth-resources`: the host
//! process's RSS and the container's memory (its cgroup's usage, as [`berth::Session::usage`]
//! reads it). Prints a table and the growth after a warm-up (the median of the last five
//! samples minus that of the first five after it), saves the result for the benchmarks page (`target/steady-memory.json`), and fails
//! when either grew by more than the limit (1 MiB by default).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use berth_resources::Sampler;

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
    container: Option<u64>,
    p50_us: f64,
    max_us: f64,
}

/// Streams frames for `seconds` through a container node and reports memory growth.
pub(crate) fn steady_memory(seconds: u64, limit_kib: u64) -> anyhow::Result<()> {
    let seconds = seconds.max(2);
    let warm_up = (seconds / 6).clamp(1, 10);
    let image = std::env::var("BERTH_BENCH_IMAGE")
        .ok()
        .filter(|i| !i.is_empty());
    let dir = tempfile::Builder::new().prefix("berth-steady-").tempdir()?;
    std::fs::create_dir(dir.path().join("nodes"))?;
    for folder in [dir.path().to_path_buf(), dir.path().join("nodes")] {
        use std::os::unix::fs::PermissionsExt;
        // The container (capabilities dropped) must search both, whatever the umask.
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755))?;
    }
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
    let host = berth_resources::for_process(std::process::id())?;
    let node_memory = |session: &mut berth::Session| {
        session
            .usage()
            .first()
            .and_then(|n| n.usage)
            .map(|u| u.memory_bytes)
    };
    println!(
        "streaming 20 ms frames for {seconds} s (warm-up {warm_up} s), sampling every second\n"
    );
    println!(
        "{:>5} {:>7} {:>14} {:>19} {:>12} {:>12}",
        "t (s)", "frames", "host RSS KiB", "container mem KiB", "rt p50 µs", "rt max µs"
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
                host_rss: host.sample().ok().map(|u| u.memory_bytes),
                container: node_memory(&mut session),
                p50_us: window.get(window.len() / 2).copied().unwrap_or(0.0),
                max_us: window.last().copied().unwrap_or(0.0),
            };
            window.clear();
            println!(
                "{:>5} {:>7} {:>14} {:>19} {:>12.1} {:>12.1}",
                row.second,
                row.frames,
                kib(row.host_rss),
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
    // Median of the first and of the last few samples: one reading's noise (a page-cache
    // blip, the kernel's per-CPU charge batches) is not growth.
    let ends = (after.len() / 4).clamp(1, 5);
    let growth = |pick: fn(&Row) -> Option<u64>| -> Option<i64> {
        let median = |rows: &[&Row]| -> Option<i64> {
            let mut values: Vec<u64> = rows.iter().map(|r| pick(r)).collect::<Option<_>>()?;
            values.sort_unstable();
            values.get(values.len() / 2).map(|v| *v as i64)
        };
        let first = median(after.get(..ends)?)?;
        let last = median(after.get(after.len().saturating_sub(ends)..)?)?;
        Some(last - first)
    };
    let host_growth = growth(|r| r.host_rss);
    let container = growth(|r| r.container);
    let span = after
        .first()
        .zip(after.last())
        .map_or(0, |(a, b)| b.second - a.second);
    println!("growth over the last {span} s (after {warm_up} s of warm-up):");
    println!("  host RSS:         {}", signed_kib(host_growth));
    println!("  container memory: {}", signed_kib(container));

    let json = serde_json::json!({
        "seconds": seconds,
        "warm_up_seconds": warm_up,
        "span_seconds": span,
        "frames": stats.received,
        "lost": stats.lost,
        "image": image.as_deref().unwrap_or("berth/python:3.11"),
        "host_rss_growth_bytes": host_growth,
        "container_memory_growth_bytes": container,
        "limit_bytes": limit_kib * 1024,
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
    let limit = i64::try_from(limit_kib * 1024).unwrap_or(i64::MAX);
    let mut over = Vec::new();
    for (what, grew) in [("host RSS", host_growth), ("container memory", container)] {
        match grew {
            Some(bytes) if bytes > limit => {
                over.push(format!("{what} grew {}", signed_kib(Some(bytes))))
            }
            Some(_) => {}
            None => over.push(format!("{what} was not measured")),
        }
    }
    if !over.is_empty() {
        bail!(
            "memory is not steady: {} (limit {limit_kib} KiB after {warm_up} s of warm-up)",
            over.join(", ")
        );
    }
    println!("steady: neither grew by more than {limit_kib} KiB");
    Ok(())
}

fn row_json(row: &Row) -> serde_json::Value {
    serde_json::json!({
        "second": row.second,
        "host_rss_bytes": row.host_rss,
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
