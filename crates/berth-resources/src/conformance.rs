//! The conformance suite every [`Sampler`](crate::Sampler) runs, against a real process that
//! burns CPU and holds memory: start [`BUSY_SCRIPT`] with Python however the implementation
//! runs nodes, wait for its `ready` line, and hand the checks its sampler.

use std::time::Duration;

use crate::{ResourceError, Sampler};

/// Memory [`BUSY_SCRIPT`] holds, in MiB.
pub const BUSY_MIB: u64 = 64;

/// Burns about half a second of CPU, then touches and holds [`BUSY_MIB`] MiB, prints `ready`,
/// and sleeps.
pub const BUSY_SCRIPT: &str = "import time\n\
end = time.process_time() + 0.5\n\
while time.process_time() < end:\n    pass\n\
held = bytearray(64 << 20)\n\
for i in range(0, len(held), 4096):\n    held[i] = 1\n\
print('ready', flush=True)\n\
time.sleep(120)\n";

/// A process running [`BUSY_SCRIPT`] that said `ready` is seen with its CPU time, its memory,
/// a peak no lower than the memory, and at least one task; readings only grow CPU time.
pub fn measures_a_busy_allocating_node(sampler: &dyn Sampler) {
    let first = sampler
        .sample()
        .unwrap_or_else(|e| panic!("{}: {e}", sampler.source()));
    let source = sampler.source();
    assert!(!source.is_empty());
    assert!(
        first.cpu >= Duration::from_millis(400),
        "{source}: half a second of CPU was burnt, {:?} counted",
        first.cpu
    );
    assert!(
        first.memory_bytes >= BUSY_MIB << 20,
        "{source}: {} MiB held, {} bytes counted",
        BUSY_MIB,
        first.memory_bytes
    );
    if let Some(peak) = first.memory_peak_bytes {
        assert!(
            peak >= first.memory_bytes,
            "{source}: peak {peak} below {first:?}"
        );
    }
    if let Some(tasks) = first.tasks {
        assert!(tasks >= 1, "{source}: {first:?}");
    }
    let second = sampler.sample().expect("a second reading");
    assert!(second.cpu >= first.cpu, "{source}: CPU time went back");
}

/// After the node is gone (its process reaped, its cgroup removed), a reading says so.
pub fn a_gone_node_reads_as_gone(sampler: &dyn Sampler) {
    match sampler.sample() {
        Err(ResourceError::Gone { .. }) => {}
        other => panic!("{}: expected Gone, got {other:?}", sampler.source()),
    }
}
