//! Berth: run pipeline nodes in containers or host processes, exchanging audio and data with
//! the host over zero-copy shared memory.
//!
//! This crate assembles the parts: it reads a [`Manifest`], plans the channels
//! ([`plan`]), starts each node through the backend its executor names (Docker, host process)
//! or as a [native node](native) on a host thread, waits until every node says it is ready,
//! and then moves frames: [`Session::send_audio`] writes straight into shared memory and
//! [`Session::recv`] (async) or [`Session::recv_with`] (blocking) lets the caller read outputs
//! in place. Sessions started from one [`Runtime`] share container nodes. Each running
//! session describes itself for other processes ([`status`]: what `berth ps` reads).
//!
//! Cargo features `docker`, `process` and `iceoryx2` (all default) build the Docker backend
//! and image builder, the host-process backend, and the iceoryx2 transport; [`recommended`]
//! names them as types. A build without one refuses, with the feature to enable, a session
//! that needs it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), berth::SessionError> {
//! let manifest = berth::Manifest::from_path("examples/gain/pipeline.yaml").map_err(berth::SessionError::from)?;
//! let mut session = berth::Session::start(&manifest, berth::SessionOptions::default()).await?;
//! session.send_audio("mic", &[0.5; 960], 48_000, 1)?;
//! let doubled = session.recv(std::time::Duration::from_secs(1), |out| out.audio().map(<[f32]>::to_vec)).await?;
//! session.stop().await?;
//! # Ok(()) }
//! ```

mod control;
mod error;
pub mod host_python;
pub mod images;
pub mod native;
mod network;
mod owner;
pub mod plan;
mod pool;
mod python;
pub mod recommended;
pub mod runner_spec;
mod runtime;
mod session;
pub mod status;

pub use berth_backend::{Realtime, RealtimeError};
pub use berth_manifest::Manifest;
pub use berth_resources::Usage;
pub use berth_transport::{FrameHeader, FrameKind, TransportConfig, monotonic_ns};
pub use control::RunnerStats;
pub use error::{LostFrames, SessionError};
pub use owner::sweep_orphans;
pub use pool::SharedNodeInfo;
pub use runtime::Runtime;
pub use session::{NodeInfo, NodeUsage, Output, Session, SessionOptions, SessionStats};

/// Pins the calling thread to the CPUs in `cpus` (e.g. `"0"` or `"0-1"`); with
/// [`SessionOptions::cpuset`] on the same CPUs, a frame's wake-up stays on one core.
pub fn pin_current_thread(cpus: &str) -> Result<(), SessionError> {
    let list = berth_backend::parse_cpu_list(cpus).map_err(|_| SessionError::CpuPinning {
        cpus: cpus.to_owned(),
        problem: "it is not a CPU list like `0`, `0,1` or `0-3`".into(),
    })?;
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set = unsafe { std::mem::zeroed::<libc::cpu_set_t>() };
    for cpu in list {
        // SAFETY: `set` is a valid cpu_set_t; CPU_SET bounds-checks against its size.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    // SAFETY: plain syscall on the calling thread with a valid set.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(SessionError::CpuPinning {
            cpus: cpus.to_owned(),
            problem: std::io::Error::last_os_error().to_string(),
        });
    }
    Ok(())
}

/// Makes the calling thread `SCHED_FIFO` at `priority` (1–99): with
/// [`SessionOptions::realtime`], the thread that sends frames and waits for them is not held
/// up by threads of ordinary priority either.
pub fn set_current_thread_realtime(priority: u8) -> Result<(), SessionError> {
    check_realtime(Realtime::new(priority))?;
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: plain syscall on the calling thread (0) with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        let error = std::io::Error::last_os_error();
        return Err(SessionError::Realtime {
            priority,
            problem: format!(
                "the kernel refused this thread ({error}); fix: run with CAP_SYS_NICE or an \
                 RLIMIT_RTPRIO of at least {priority} (`ulimit -r`), and where the kernel \
                 budgets real-time threads by cgroup, give this thread's cgroup a real-time \
                 budget (`cpu.rt_runtime_us`)"
            ),
        });
    }
    Ok(())
}

/// [`Realtime::check`] as the error a session reports.
pub(crate) fn check_realtime(realtime: Realtime) -> Result<(), SessionError> {
    realtime.check().map_err(|problem| SessionError::Realtime {
        priority: realtime.priority,
        problem: problem.to_string(),
    })
}
