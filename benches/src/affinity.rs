//! CPU placement: pin the calling thread (restored on drop) or another process to one CPU.
//!
//! On a VM a wake-up that crosses CPUs costs tens of µs (the inter-processor interrupt goes
//! through the hypervisor); on the same CPU a few µs. The paced benches run twice, once where
//! the OS places things and once with the host thread and the node on one CPU.

use std::io;

/// The CPU the pinned cases use for the host thread and the node.
pub const PINNED_CPU: usize = 0;

/// The CPU list of [`PINNED_CPU`] as Berth's `SessionOptions::cpuset` expects it.
pub fn pinned_cpuset() -> String {
    PINNED_CPU.to_string()
}

fn empty_set() -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
    unsafe { std::mem::zeroed() }
}

fn get(pid: libc::pid_t) -> io::Result<libc::cpu_set_t> {
    let mut set = empty_set();
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    let rc =
        unsafe { libc::sched_getaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc == 0 {
        Ok(set)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set(pid: libc::pid_t, set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; pid 0 means the calling thread.
    let rc = unsafe { libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn only(cpu: usize) -> libc::cpu_set_t {
    let mut set = empty_set();
    // SAFETY: CPU_SET bounds-checks `cpu` against the set's size.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set
}

/// Number of CPUs online.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn all_online() -> libc::cpu_set_t {
    // SAFETY: sysconf has no memory effects.
    let count = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    let mut set = empty_set();
    for cpu in 0..count {
        // SAFETY: as in `only`.
        unsafe { libc::CPU_SET(cpu, &mut set) };
    }
    set
}

/// The calling thread, pinned to one CPU until the guard is dropped; then its previous CPU set
/// is restored. Threads started while pinned inherit the pin (that is how a native node's
/// thread follows the host thread that starts the session).
pub struct PinGuard {
    previous: libc::cpu_set_t,
}

/// Pins the calling thread to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<PinGuard> {
    let previous = get(0)?;
    set(0, &only(cpu))?;
    Ok(PinGuard { previous })
}

impl Drop for PinGuard {
    fn drop(&mut self) {
        if let Err(e) = set(0, &self.previous) {
            eprintln!("warning: cannot restore the thread's CPU set: {e}");
        }
    }
}

/// Pins process (main thread) `pid` to `cpu`, or lets it run anywhere with `None`.
pub fn place_process(pid: u32, cpu: Option<usize>) -> io::Result<()> {
    let target = match cpu {
        Some(cpu) => only(cpu),
        None => all_online(),
    };
    set(pid as libc::pid_t, &target)
}

/// Every thread of process `pid` pinned to `cpu` (or let run anywhere with `None`).
pub fn place_all_threads(pid: u32, cpu: Option<usize>) -> io::Result<()> {
    let target = match cpu {
        Some(cpu) => only(cpu),
        None => all_online(),
    };
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))?;
    for task in tasks.flatten() {
        if let Ok(tid) = task.file_name().to_string_lossy().parse::<libc::pid_t>() {
            set(tid, &target)?;
        }
    }
    Ok(())
}
