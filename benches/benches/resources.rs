//! What one reading of a node's usage costs: a cgroup sampler (the cgroup of this process, read
//! the same way as a container's: five or six small kernel files) and a `/proc` sampler (two
//! files), side by side in one run. `cargo bench -p berth-benches --bench resources`.

use berth_resources::Sampler;
use criterion::{Criterion, criterion_group, criterion_main};

fn sampling(c: &mut Criterion) {
    let pid = std::process::id();
    let mut group = c.benchmark_group("usage_sample");
    match berth_resources::for_cgroup_of(pid) {
        Ok(cgroup) => {
            let source = cgroup.source();
            group.bench_function("cgroup", |b| b.iter(|| cgroup.sample().expect(&source)));
        }
        Err(e) => eprintln!("no cgroup to read here ({e}); the cgroup case is skipped"),
    }
    let process = berth_resources::for_process(pid).expect("this process");
    group.bench_function("proc", |b| b.iter(|| process.sample().expect("a reading")));
    group.finish();
}

criterion_group!(benches, sampling);
criterion_main!(benches);
