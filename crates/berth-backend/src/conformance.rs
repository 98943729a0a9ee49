//! The conformance suite every [`Backend`] runs.
//!
//! Each check is an async function over `&dyn Backend` and a [`Harness`] saying how to run
//! Python in that backend; each uses its own random session id. Capability-dependent checks
//! verify the capability only where the backend declares it. [`backend_conformance_tests!`]
//! turns the suite into one `#[test]` per check:
//!
//! ```text
//! berth_backend::backend_conformance_tests!(make_backend, make_harness);
//! ```
//!
//! [`backend_conformance_tests!`]: crate::backend_conformance_tests

use std::future::Future;
use std::time::{Duration, Instant};

use crate::{Backend, BackendError, LaunchSpec, Limits, LogStream};

/// How the suite runs Python inside the backend under test.
#[derive(Clone, Debug)]
pub struct Harness {
    /// The Python interpreter, as the backend resolves it (`python3`, a venv path).
    pub python: String,
    /// The image to run in (container backends).
    pub image: Option<String>,
}

/// Runs `future` on a fresh multi-threaded runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

/// How long one check may take before the suite calls the backend hung: far more than any
/// check needs (a container start is well under a few seconds), so only a hang reaches it.
pub const CHECK_TIME_LIMIT: Duration = Duration::from_secs(180);

/// Runs one check, failing with its name when it outlives [`CHECK_TIME_LIMIT`] (a backend
/// whose `wait` or `stop` never returns must fail the suite, not hang it).
pub async fn within_time_limit(check: &str, run: impl Future<Output = ()>) {
    if tokio::time::timeout(CHECK_TIME_LIMIT, run).await.is_err() {
        panic!(
            "conformance check `{check}` did not finish within {CHECK_TIME_LIMIT:?}: the \
             backend hangs"
        );
    }
}

fn spec(harness: &Harness, node_id: &str, script: &str) -> LaunchSpec {
    LaunchSpec {
        session_id: format!("conf{:08x}", fastrand::u32(..)),
        node_id: node_id.to_owned(),
        command: vec![
            harness.python.clone(),
            "-u".into(),
            "-c".into(),
            script.to_owned(),
        ],
        image: harness.image.clone(),
        ..LaunchSpec::default()
    }
}

async fn wait_for_line(backend_logs: &crate::LogTail, needle: &str) -> bool {
    for _ in 0..500 {
        if backend_logs.lines().iter().any(|l| l.text.contains(needle)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// The exit code and both output streams reach the host.
pub async fn exit_code_and_output_are_reported(backend: &dyn Backend, harness: &Harness) {
    let spec = spec(
        harness,
        "exit-code",
        "import sys; print('to-stdout'); print('to-stderr', file=sys.stderr); sys.exit(3)",
    );
    let node = backend.launch(&spec).await.expect("launch");
    let report = node.wait().await;
    assert_eq!(report.code, Some(3), "{report}");
    assert!(!report.success());
    assert!(
        wait_for_line(node.logs(), "to-stderr").await,
        "stderr reached the host"
    );
    let lines = node.logs().lines();
    assert!(
        lines
            .iter()
            .any(|l| l.stream == LogStream::Stdout && l.text == "to-stdout"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.stream == LogStream::Stderr && l.text == "to-stderr"),
        "{lines:?}"
    );
    node.stop(Duration::from_secs(1))
        .await
        .expect("stop after exit");
}

/// Environment variables of the spec are visible to the node.
pub async fn environment_reaches_the_node(backend: &dyn Backend, harness: &Harness) {
    let mut spec = spec(
        harness,
        "env",
        "import os; print('value=' + os.environ['BERTH_CONFORMANCE'])",
    );
    spec.env
        .insert("BERTH_CONFORMANCE".into(), "it-works".into());
    let node = backend.launch(&spec).await.expect("launch");
    assert!(node.wait().await.success());
    assert!(
        wait_for_line(node.logs(), "value=it-works").await,
        "{:?}",
        node.logs().lines()
    );
    node.stop(Duration::from_secs(1)).await.expect("stop");
}

/// Stop asks first: a node that handles SIGTERM exits cleanly.
pub async fn stop_is_graceful_first(backend: &dyn Backend, harness: &Harness) {
    let script = "import signal, sys, time\n\
                  def bye(*_):\n    print('stopping cleanly'); sys.exit(0)\n\
                  signal.signal(signal.SIGTERM, bye)\n\
                  print('up')\n\
                  time.sleep(60)\n";
    let node = backend
        .launch(&spec(harness, "graceful", script))
        .await
        .expect("launch");
    assert!(wait_for_line(node.logs(), "up").await, "the node started");
    let report = node.stop(Duration::from_secs(5)).await.expect("stop");
    assert_eq!(report.code, Some(0), "{report}");
    assert!(wait_for_line(node.logs(), "stopping cleanly").await);
}

/// Stop kills a node that ignores the request, soon after the grace period.
pub async fn stop_kills_a_node_that_ignores_it(backend: &dyn Backend, harness: &Harness) {
    let script = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up')\ntime.sleep(60)\n";
    let node = backend
        .launch(&spec(harness, "stubborn", script))
        .await
        .expect("launch");
    assert!(wait_for_line(node.logs(), "up").await, "the node started");
    let started = Instant::now();
    let report = node.stop(Duration::from_millis(300)).await.expect("stop");
    assert!(!report.success(), "{report}");
    assert!(
        report.signal == Some(9) || report.code == Some(137),
        "killed: {report}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
}

/// Waiting for readiness fails at once, with the node's output, when the node exits.
pub async fn wait_ready_fails_fast_on_exit(backend: &dyn Backend, harness: &Harness) {
    let spec = spec(
        harness,
        "early-exit",
        "import sys; print('cannot go on', file=sys.stderr); sys.exit(2)",
    );
    let node = backend.launch(&spec).await.expect("launch");
    let started = Instant::now();
    let err = node
        .wait_ready(&mut || false, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    match &err {
        BackendError::ExitedBeforeReady { report, .. } => assert_eq!(report.code, Some(2)),
        other => panic!("expected ExitedBeforeReady, got {other}"),
    }
    node.stop(Duration::from_secs(1)).await.expect("stop");
}

/// Waiting for readiness gives up after the timeout with a clear error.
pub async fn wait_ready_times_out(backend: &dyn Backend, harness: &Harness) {
    let node = backend
        .launch(&spec(
            harness,
            "never-ready",
            "import time; print('sleeping'); time.sleep(60)",
        ))
        .await
        .expect("launch");
    let err = node
        .wait_ready(&mut || false, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::ReadyTimeout { .. }), "{err}");
    assert!(err.to_string().contains("never-ready"), "{err}");
    node.stop(Duration::from_millis(200)).await.expect("stop");
}

/// A node allocating past its memory limit is killed and reported as such where the backend
/// declares hard memory limits, and runs on where it does not (the declaration is truthful).
pub async fn memory_limit_is_enforced(backend: &dyn Backend, harness: &Harness) {
    let script = "chunks = []\nfor _ in range(16):\n    chunks.append(bytearray(16 << 20))\nprint('survived')\n";
    let mut spec = spec(harness, "hungry", script);
    spec.limits = Limits {
        memory_bytes: Some(128 << 20),
        cpu_cores: Some(1.0),
    };
    let node = backend.launch(&spec).await.expect("launch");
    let report = node.wait().await;
    if !backend.capabilities().hard_memory_limit {
        assert!(
            report.success(),
            "no limit declared, none enforced: {report}"
        );
        node.stop(Duration::from_secs(1)).await.expect("stop");
        return;
    }
    assert!(report.oom_killed, "{report}");
    assert_eq!(report.memory_limit_bytes, Some(128 << 20));
    assert!(report.to_string().contains("128 MiB"), "{report}");
    node.stop(Duration::from_secs(1)).await.expect("stop");
}

/// A node that burns CPU and holds memory is measured by the backend's sampler (its
/// container's cgroup, or its process), and reads as gone once stopped.
pub async fn usage_is_measured(backend: &dyn Backend, harness: &Harness) {
    use berth_resources::conformance::{
        BUSY_SCRIPT, a_gone_node_reads_as_gone, measures_a_busy_allocating_node,
    };
    let node = backend
        .launch(&spec(harness, "busy", BUSY_SCRIPT))
        .await
        .expect("launch");
    assert!(
        wait_for_line(node.logs(), "ready").await,
        "{:?}",
        node.logs().lines()
    );
    let sampler = node
        .sampler()
        .unwrap_or_else(|| panic!("{} measures nothing", backend.name()));
    measures_a_busy_allocating_node(sampler.as_ref());
    node.stop(Duration::from_secs(1)).await.expect("stop");
    a_gone_node_reads_as_gone(sampler.as_ref());
}

/// After stop, the backend holds nothing of the session.
pub async fn nothing_remains_after_stop(backend: &dyn Backend, harness: &Harness) {
    let spec = spec(harness, "tidy", "import time; print('up'); time.sleep(60)");
    let node = backend.launch(&spec).await.expect("launch");
    assert!(
        !backend
            .session_resources(&spec.session_id)
            .await
            .unwrap()
            .is_empty()
    );
    node.stop(Duration::from_millis(500)).await.expect("stop");
    assert_eq!(
        backend.session_resources(&spec.session_id).await.unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(backend.sweep_session(&spec.session_id).await.unwrap(), 0);
}

/// A program that does not exist is a clear launch error or a clear exit, never a hang.
pub async fn a_missing_program_is_reported(backend: &dyn Backend, harness: &Harness) {
    let mut spec = spec(harness, "missing", "");
    spec.command = vec!["/no/such/berth-program".into()];
    match backend.launch(&spec).await {
        Err(err) => assert!(err.to_string().contains("berth-program"), "{err}"),
        Ok(node) => {
            let report = node.wait().await;
            assert!(!report.success(), "{report}");
            node.stop(Duration::from_secs(1)).await.expect("stop");
        }
    }
    assert_eq!(
        backend.session_resources(&spec.session_id).await.unwrap(),
        Vec::<String>::new()
    );
}

/// Generates one `#[test]` per conformance check; `$make` builds the backend, `$harness` the
/// [`Harness`]. A body that returns early (e.g. no daemon) can be done in `$make` by returning
/// `None`.
#[macro_export]
macro_rules! backend_conformance_tests {
    ($make:expr, $harness:expr) => {
        $crate::backend_conformance_tests!(@each $make, $harness;
            exit_code_and_output_are_reported,
            environment_reaches_the_node,
            stop_is_graceful_first,
            stop_kills_a_node_that_ignores_it,
            wait_ready_fails_fast_on_exit,
            wait_ready_times_out,
            memory_limit_is_enforced,
            usage_is_measured,
            nothing_remains_after_stop,
            a_missing_program_is_reported,
        );
    };
    (@each $make:expr, $harness:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::conformance::block_on(async {
                    let Some(backend) = ($make)().await else { return };
                    let harness = ($harness)();
                    $crate::conformance::within_time_limit(
                        stringify!($check),
                        $crate::conformance::$check(backend.as_ref(), &harness),
                    )
                    .await;
                });
            }
        )*
    };
}
