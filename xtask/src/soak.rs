//! `cargo xtask soak`: long runs the test suite keeps short. First many sessions one after
//! another through a real container (each checked frame by frame, each leaving nothing), then
//! several sessions at once at live pace for a long time (`berth run --sessions N --realtime`,
//! which checks every session's frames against its own input).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth::{Manifest, Runtime, SessionOptions};

use crate::python_env::root;
use crate::tasks::{DEMO_PIPELINE, iceoryx2_files, preflight, release_berth, runtime};

/// Arguments of `cargo xtask soak`.
#[derive(clap::Args)]
pub(crate) struct SoakArgs {
    /// Sessions to run one after another (0 skips this part).
    #[arg(long, default_value_t = 1000)]
    consecutive: usize,
    /// Sessions to run at once afterwards (0 skips this part).
    #[arg(long, default_value_t = 5)]
    concurrent: usize,
    /// How long the concurrent sessions stream, in seconds.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
}

pub(crate) fn soak(args: &SoakArgs) -> anyhow::Result<()> {
    preflight()?;
    let root = root();
    let manifest = Manifest::from_path(root.join(DEMO_PIPELINE)).map_err(anyhow::Error::msg)?;
    let before = iceoryx2_files();
    if args.consecutive > 0 {
        consecutive(&manifest, args.consecutive)?;
        let left: Vec<_> = iceoryx2_files()
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        anyhow::ensure!(left.is_empty(), "left behind: {left:?}");
    }
    if args.concurrent > 0 {
        let berth = release_berth()?;
        println!(
            "{} sessions at once for {} s at live pace (berth run --sessions {0} --seconds {1} --realtime)",
            args.concurrent, args.seconds
        );
        let started = Instant::now();
        let out = Command::new(berth)
            .current_dir(&root)
            .args(["run", DEMO_PIPELINE, "--realtime", "--sessions"])
            .arg(args.concurrent.to_string())
            .arg("--seconds")
            .arg(args.seconds.to_string())
            .output()
            .context("running berth")?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        print!("{stdout}");
        anyhow::ensure!(
            out.status.success(),
            "the concurrent sessions failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "concurrent sessions took {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let left: Vec<_> = iceoryx2_files()
            .into_iter()
            .filter(|f| !before.contains(f))
            .collect();
        anyhow::ensure!(left.is_empty(), "left behind: {left:?}");
    }
    println!("soak passed: nothing left behind");
    Ok(())
}

/// `count` sessions in a row from one runtime, each sending 3 frames and checking the gain.
fn consecutive(manifest: &Manifest, count: usize) -> anyhow::Result<()> {
    let rt = runtime()?;
    let runtime = Runtime::new();
    let mut took = Vec::with_capacity(count);
    let mut rss_warm = None;
    let started = Instant::now();
    for i in 0..count {
        let began = Instant::now();
        let mut session = rt
            .block_on(runtime.session(manifest, SessionOptions::default()))
            .with_context(|| format!("session {i}"))?;
        for n in 0..3 {
            let input = [0.25 * (n + 1) as f32; 960];
            session.send_audio("mic", &input, 48_000, 1)?;
            let out = session
                .recv_with(Duration::from_secs(10), |o| o.audio().map(<[f32]>::to_vec))?
                .flatten()
                .with_context(|| format!("session {i}: no output for frame {n}"))?;
            anyhow::ensure!(
                out.len() == input.len(),
                "session {i}: frame {n} has the wrong size"
            );
        }
        let stats = rt.block_on(session.stop())?;
        anyhow::ensure!(
            (stats.sent, stats.received, stats.lost) == (3, 3, 0),
            "session {i}: {stats:?}"
        );
        took.push(began.elapsed());
        if i + 1 == count.min(10) {
            rss_warm = Some(rss_kib()); // after the first sessions loaded what they load once
        }
        if (i + 1) % 100 == 0 {
            println!(
                "  {} sessions, {:.0} s",
                i + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    rt.block_on(runtime.shutdown());
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "{count} consecutive sessions in {:.0} s: start+3 frames+stop p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; host RSS after {} sessions {} KiB, after all {} KiB",
        started.elapsed().as_secs_f64(),
        at(0.5),
        at(0.99),
        at(1.0),
        count.min(10),
        rss_warm.unwrap_or(0),
        rss_kib()
    );
    Ok(())
}

/// This process's resident memory.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}
