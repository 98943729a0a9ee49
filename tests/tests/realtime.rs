//! Real-time scheduling (`SessionOptions::realtime`): a node's runner makes the thread that runs
//! the node `SCHED_FIFO` at the priority asked for, in a host process and in a container, or
//! the session fails to start with an error that names the fix. Each test checks what this
//! machine allows first and asserts the outcome that must follow from it.

use std::time::Duration;

use berth::{Realtime, Session, SessionError, SessionOptions};
use berth_tests::{assert_nothing_left, docker_available, pipeline, round_trips, runtime};

const HOST_ECHO: &str = r#"
version: "v1"
metadata: { name: "realtime-host" }
nodes:
  - id: echo
    node_type: Echo
    runtime_hint: cpython
connections:
  - { from: mic, to: echo }
"#;

const CONTAINER_ECHO: &str = r#"
version: "v1"
metadata: { name: "realtime-container" }
nodes:
  - id: echo
    node_type: Echo
    docker:
      python_version: "3.11"
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: echo }
"#;

/// `SCHED_FIFO` in `/proc/<pid>/stat`'s policy field.
const SCHED_FIFO: u32 = 1;

/// The scheduling policy and real-time priority of process `pid`'s main thread (fields 41 and
/// 40 of `/proc/<pid>/stat`).
fn policy_of(pid: u32) -> (u32, u32) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which may hold spaces, start at field 3.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    (fields[38].parse().unwrap(), fields[37].parse().unwrap())
}

/// The session's runner: the Python process whose command runs `berth.runner` (in a container,
/// not the init process that started it).
fn runner_pid(session: &str) -> u32 {
    let runners: Vec<u32> = berth_resources::processes_with_env(&[("BERTH_SESSION_ID", session)])
        .into_iter()
        .filter(|pid| {
            let python = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.starts_with("python"));
            python
                && std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"berth.runner"))
        })
        .collect();
    assert_eq!(runners.len(), 1, "one runner in session {session}");
    runners[0]
}

/// Whether this process may make a thread `SCHED_FIFO` at `priority` (a host-process runner
/// inherits what it has): `CAP_SYS_NICE` or an `RLIMIT_RTPRIO` that allows it, and where the
/// kernel budgets real-time threads by cgroup, a budget for its own cgroup.
fn may_be_realtime(priority: u8) -> bool {
    const CAP_SYS_NICE: u32 = 23;
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let nice = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|caps| u64::from_str_radix(caps.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_NICE) != 0);
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let rtprio = limits
        .lines()
        .find(|l| l.starts_with("Max realtime priority"))
        .and_then(|l| l.split_whitespace().nth(3))
        .map_or(0, |soft| match soft {
            "unlimited" => u8::MAX,
            soft => soft.parse().unwrap_or(0),
        });
    (nice || rtprio >= priority) && own_realtime_budget().is_none_or(|budget| budget > 0)
}

/// The cgroup v1 `cpu` hierarchy, where the kernel budgets real-time threads by cgroup (its
/// root has a `cpu.rt_runtime_us`); `None` where it does not.
fn realtime_cgroup_root() -> Option<&'static str> {
    ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"]
        .into_iter()
        .find(|root| {
            std::path::Path::new(root)
                .join("cpu.rt_runtime_us")
                .exists()
        })
}

/// This process's cgroup's real-time budget (µs a second) where the kernel budgets real-time
/// threads by cgroup (cgroup v1 `cpu.rt_runtime_us`); `None` where it does not.
fn own_realtime_budget() -> Option<u64> {
    let root = realtime_cgroup_root()?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let path = cgroups.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':').skip(1);
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers.split(',').any(|c| c == "cpu").then_some(path)
    })?;
    let budget = std::fs::read_to_string(format!("{root}{path}/cpu.rt_runtime_us")).ok()?;
    Some(budget.trim().parse().unwrap())
}

/// Docker's own real-time budget for its containers (µs a second) where the kernel budgets
/// real-time threads by cgroup (cgroup v1 `cpu.rt_runtime_us` of Docker's parent group);
/// `None` where it does not, and a container needs no budget.
fn docker_realtime_budget() -> Option<u64> {
    let root = realtime_cgroup_root()?;
    let budget = std::fs::read_to_string(format!("{root}/docker/cpu.rt_runtime_us"));
    Some(budget.map_or(0, |b| b.trim().parse().unwrap()))
}

fn options(realtime: Realtime) -> SessionOptions {
    SessionOptions {
        realtime: Some(realtime),
        ready_timeout: Duration::from_secs(120),
        ..SessionOptions::default()
    }
}

#[test]
fn a_host_process_runner_runs_its_node_at_the_priority_asked_for() {
    let rt = runtime();
    let p = pipeline(HOST_ECHO);
    let started = rt.block_on(Session::start(&p.manifest, options(Realtime::new(7))));
    if !may_be_realtime(7) {
        let error = started
            .err()
            .expect("refused without CAP_SYS_NICE or RLIMIT_RTPRIO");
        assert!(error.to_string().contains("RLIMIT_RTPRIO"), "{error}");
        return;
    }
    assert_runs_real_time(&rt, started.unwrap(), 7);
}

/// The session's runner runs its node `SCHED_FIFO` at `priority`, frames still flow, and the
/// session stops leaving nothing.
fn assert_runs_real_time(rt: &tokio::runtime::Runtime, mut session: Session, priority: u32) {
    let id = session.id().clone();
    assert_eq!(policy_of(runner_pid(id.as_str())), (SCHED_FIFO, priority));
    for (input, output) in round_trips(&mut session, "mic", 50) {
        assert_eq!(input, output, "frames still flow");
    }
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
}

#[test]
fn a_priority_out_of_range_is_refused_before_anything_starts() {
    let rt = runtime();
    let p = pipeline(HOST_ECHO);
    let error = rt
        .block_on(Session::start(&p.manifest, options(Realtime::new(100))))
        .err()
        .expect("priority 100 is refused");
    assert!(
        matches!(&error, SessionError::Realtime { priority: 100, problem } if problem.contains("1 to 99")),
        "{error}"
    );
}

#[test]
fn a_container_runner_runs_its_node_real_time_or_the_error_names_dockers_budget() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let p = pipeline(CONTAINER_ECHO);
    let realtime = Realtime {
        budget: Duration::from_millis(100),
        ..Realtime::new(5)
    };
    let docker = docker_realtime_budget();
    let started = rt.block_on(Session::start(&p.manifest, options(realtime)));
    if let Some(docker) = docker.filter(|&budget| budget < 100_000) {
        let error = started.err().expect("a budget above Docker's is refused");
        assert_names_dockers_budget(&error, docker);
        return;
    }
    // A container runtime that may not raise RLIMIT_RTPRIO (rootless Docker, or one without
    // CAP_SYS_RESOURCE) refuses a runner that is not root; the error names the fix.
    if let Err(error) = &started
        && error.to_string().contains("real-time priority limit")
    {
        assert!(error.to_string().contains("CAP_SYS_RESOURCE"), "{error}");
        return;
    }
    assert_runs_real_time(&rt, started.unwrap(), 5);
    // Where Docker's budget is below a second, a container cannot be given more than it.
    if let Some(docker) = docker.filter(|&budget| budget < 1_000_000) {
        let too_much = Realtime {
            budget: Duration::from_micros(docker + 1),
            ..realtime
        };
        let error = rt
            .block_on(Session::start(&p.manifest, options(too_much)))
            .err()
            .expect("a budget above Docker's is refused");
        assert_names_dockers_budget(&error, docker);
    }
}

fn assert_names_dockers_budget(error: &SessionError, docker: u64) {
    let message = error.to_string();
    eprintln!("Docker's budget {docker} µs, refused as it should be: {message}");
    assert!(
        message.contains("real-time budget") && message.contains("--cpu-rt-runtime"),
        "Docker's budget {docker} µs: {message}"
    );
}
