//! Helpers of Berth's Criterion benchmarks (`benches/benches/*.rs`): raw iceoryx2 ports for the
//! baselines, Python peer processes (socket, TCP and raw iceoryx2 echoes), pipeline manifests in
//! temporary folders, CPU pinning and CPU accounting, the runner's step traces, pacing, the
//! Docker switch and the leak checks.
//!
//! Every bench cleans up after itself: sessions are stopped, peers are ended, and what a bench
//! created under an iceoryx2 prefix is checked (and swept, loudly) before the bench exits.

pub mod affinity;
pub mod cpu;
pub mod docker;
pub mod leaks;
pub mod peers;
pub mod pipelines;
pub mod raw;
pub mod steps;
pub mod timing;

/// The frame every node round trip sends: 20 ms of mono audio at 48 kHz.
pub const FRAME_SAMPLES: usize = 960;
/// Sample rate of [`FRAME_SAMPLES`].
pub const SAMPLE_RATE: u32 = 48_000;

/// A 960-sample test tone (a slow sine), the same for every case.
pub fn frame() -> Vec<f32> {
    (0..FRAME_SAMPLES)
        .map(|i| (i as f32 * 0.01).sin() * 0.5)
        .collect()
}

/// The bytes of [`frame`] (f32 little-endian), for the byte-stream baselines.
pub fn frame_bytes() -> Vec<u8> {
    frame().iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// The Python interpreter for peers and host-process nodes, the one sessions use:
/// `$BERTH_PYTHON`, else Berth's own virtualenv (with iceoryx2 and numpy, made on first use),
/// so the benches run on a fresh machine as they are.
pub fn python() -> String {
    static PYTHON: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a tokio runtime");
            rt.block_on(berth::host_python::interpreter())
                .unwrap_or_else(|e| panic!("no Python for the benches: {e}"))
                .display()
                .to_string()
        })
        .clone()
}

/// A multi-threaded runtime for sessions (two workers, like the machine's two CPUs).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// The folder of this package (`benches/`), for its Python peers and nodes.
pub fn package_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the build's outputs go (`$CARGO_TARGET_DIR`, else the workspace's `target/`): the
/// benches write their side results there, beside Criterion's.
pub fn target_dir() -> std::path::PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => std::path::PathBuf::from(dir),
        _ => package_dir()
            .parent()
            .expect("benches/ lives in the workspace")
            .join("target"),
    }
}
