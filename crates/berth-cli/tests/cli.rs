//! The `berth` command as a user runs it.

use std::process::Command;

/// Held by every test that starts a session: a session's first start sweeps dead sessions, and
/// the crash test must see the state its killed host left before anything else sweeps it.
static SESSIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    SESSIONS.lock().unwrap_or_else(|p| p.into_inner())
}

fn berth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("berth runs")
}

/// Whether the Docker daemon answers; without it a test says so loudly and passes, unless
/// `BERTH_REQUIRE_DOCKER=1` makes that a failure.
fn docker_available() -> bool {
    let rt = tokio::runtime::Runtime::new().unwrap();
    match rt.block_on(berth_docker::DockerBackend::connect()) {
        Ok(_) => true,
        Err(e) if std::env::var("BERTH_REQUIRE_DOCKER").as_deref() == Ok("1") => {
            panic!("BERTH_REQUIRE_DOCKER=1 but Docker is unreachable: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: Docker daemon not reachable ({e})");
            false
        }
    }
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_examples() {
    for example in [
        "examples/gain/pipeline.yaml",
        "examples/gain-docker/pipeline.yaml",
    ] {
        let out = berth(&["validate", &repo(example)]);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    }
}

#[test]
fn validate_rejects_with_exit_code_2_and_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "version: v1\nmetadata: { name: x }\nnodes:\n  - id: a\n    node_type: Gain\n    docker:\n      resource_limits: { memroy_mb: 5 }\n",
    )
    .unwrap();
    let out = berth(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:7:26: nodes[0].docker.resource_limits.memroy_mb"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `memory_mb`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn validate_never_panics_on_garbage() {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in [
        "",
        ":",
        "[[[",
        "nodes: 5",
        "\u{0}\u{1}",
        "version: v1\nnodes: [{}]",
    ]
    .iter()
    .enumerate()
    {
        let file = dir.path().join(format!("g{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = berth(&["validate", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{text:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = berth(&["validate", "/no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_is_json_with_the_node_fields() {
    let out = berth(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema.to_string().contains("resource_limits"));
}

#[test]
fn run_refuses_a_real_time_priority_out_of_range_before_starting_anything() {
    for priority in ["0", "100"] {
        let out = berth(&[
            "run",
            &repo("examples/gain-docker/pipeline.yaml"),
            "--priority",
            priority,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains("--priority") && stderr.contains("1..=99"),
            "{stderr}"
        );
    }
}

#[test]
fn run_streams_the_gain_example_and_prints_latency() {
    let _one = one_at_a_time();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "run",
            &repo("examples/gain/pipeline.yaml"),
            "--seconds",
            "0.5",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("round trip p50"), "{stdout}");
    assert!(
        stdout.contains("frames: sent 25 received 25 lost 0 node errors 0"),
        "{stdout}"
    );
}

#[test]
fn run_streams_nodes_that_answer_some_inputs_or_several_times() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nodes")).unwrap();
    std::fs::write(
        dir.path().join("nodes/streaming.py"),
        r#"
from berth import Node, RuntimeData

class EveryOther(Node):
    """Answers only even frames."""
    async def initialize(self):
        self.n = 0
    async def process(self, data):
        self.n += 1
        return data if self.n % 2 == 1 else None

class Twice(Node):
    """Answers every frame with its audio and a text line."""
    async def process(self, data):
        yield data
        yield RuntimeData.text("tick")
"#,
    )
    .unwrap();
    let manifest = dir.path().join("pipeline.yaml");
    std::fs::write(
        &manifest,
        r#"
version: "v1"
metadata: { name: "streaming" }
nodes:
  - { id: half, node_type: EveryOther, runtime_hint: cpython }
  - { id: twice, node_type: Twice, runtime_hint: cpython, is_streaming: true }
connections:
  - { from: mic, to: half }
  - { from: half, to: twice }
"#,
    )
    .unwrap();
    let out = berth(&["run", manifest.to_str().unwrap(), "--seconds", "0.2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 10 inputs; `half` passes 5; `twice` answers each with two frames.
    assert!(
        stdout.contains("frames: sent 10 received 10 lost 0"),
        "{stdout}"
    );
    assert!(stdout.contains("twice: 10 outputs"), "{stdout}");
    assert_eq!(stdout.matches("twice: tick").count(), 5, "{stdout}");
}

#[test]
fn run_limits_a_wav_input_to_seconds() {
    let _one = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..48_000 {
        writer.write_sample((i as f32 * 0.01).sin() * 0.5).unwrap();
    }
    writer.finalize().unwrap();
    let out = berth(&[
        "run",
        &repo("examples/gain/pipeline.yaml"),
        "--input",
        wav.to_str().unwrap(),
        "--seconds",
        "0.1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("frames: sent 5 received 5"), "{stdout}");
}

/// A running `berth run` whose stderr is read line by line.
struct Running {
    child: std::process::Child,
    stderr: std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
    seen: Vec<String>,
}

impl Running {
    fn start(args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("berth starts");
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        Running {
            child,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Reads stderr until a line starts with `prefix` (after trimming) and returns it.
    fn line_starting(&mut self, prefix: &str) -> String {
        for line in self.stderr.by_ref() {
            let line = line.unwrap();
            self.seen.push(line.clone());
            if line.trim_start().starts_with(prefix) {
                return line;
            }
        }
        panic!(
            "berth ended before printing `{prefix}`:\n{}",
            self.seen.join("\n")
        );
    }

    /// The session id from `session <id> ready`.
    fn session(&mut self) -> String {
        let line = self.line_starting("session ");
        line.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// Waits for the exit (at most 60 s) and returns status and stdout.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        use std::io::Read;
        let (tx, rx) = std::sync::mpsc::channel();
        let mut stdout = self.child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            let _ = tx.send(out);
        });
        let out = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("berth ended within 60 s");
        (self.child.wait().unwrap(), out)
    }
}

/// Files and segments of `session` under iceoryx2's root and in `/dev/shm`.
fn iceoryx2_files_of(session: &str) -> Vec<String> {
    let prefix = format!("berth_{session}_");
    let mut found = Vec::new();
    for dir in [
        "/dev/shm",
        "/dev/shm/iceoryx2",
        "/dev/shm/iceoryx2/services",
        "/dev/shm/iceoryx2/nodes",
    ] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) {
                found.push(format!("{dir}/{name}"));
            }
        }
    }
    found
}

fn owner_file(session: &str) -> std::path::PathBuf {
    berth_images::default_cache_dir()
        .join("sessions")
        .join(format!("{session}.owner"))
}

#[test]
fn ctrl_c_stops_a_run_cleanly() {
    let _one = one_at_a_time();
    let mut run = Running::start(&[
        "run",
        &repo("examples/gain/pipeline.yaml"),
        "--realtime",
        "--seconds",
        "30",
    ]);
    let session = run.session();
    assert!(
        owner_file(&session).is_file(),
        "the session has an owner file"
    );
    let status = Command::new("kill")
        .args(["-INT", &run.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (status, stdout) = run.finish();
    assert_eq!(status.code(), Some(130), "{stdout}");
    let sent: u64 = stdout
        .split("frames: sent ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary: {stdout}"));
    assert!(
        sent < 1500,
        "stopped before the 30 s of input ran out: {stdout}"
    );
    assert!(
        stdout.contains(&format!("received {sent} lost 0")),
        "{stdout}"
    );
    assert_eq!(iceoryx2_files_of(&session), Vec::<String>::new());
    assert!(
        !owner_file(&session).exists(),
        "the owner file goes with the session"
    );
}

#[test]
fn a_killed_host_stops_its_containers_and_the_next_start_removes_them() {
    let _one = one_at_a_time();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let docker = match rt.block_on(berth_docker::DockerBackend::new().client()) {
        Ok(docker) if rt.block_on(docker.ping()).is_ok() => docker,
        other if std::env::var("BERTH_REQUIRE_DOCKER").as_deref() == Ok("1") => {
            panic!(
                "BERTH_REQUIRE_DOCKER=1 but Docker is unreachable: {:?}",
                other.err()
            )
        }
        _ => {
            eprintln!("SKIPPED: Docker daemon not reachable");
            return;
        }
    };
    // Two sessions, started together: their shared container gets a namespace of its own,
    // and the runtime starts its network holder once both are up. Its start is watched on
    // the daemon's event stream from before the run, so it is seen however soon it comes.
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let holder_started = {
        let filters = std::collections::HashMap::from([
            ("type", vec!["container"]),
            ("event", vec!["start"]),
            ("label", vec!["berth.node=network"]),
        ]);
        let options = bollard::query_parameters::EventsOptionsBuilder::new()
            .since(&format!("{}.{:09}", since.as_secs(), since.subsec_nanos()))
            .filters(&filters)
            .build();
        docker.events(Some(options))
    };
    let mut run = Running::start(&[
        "run",
        &repo("examples/gain-docker/pipeline.yaml"),
        "--realtime",
        "--seconds",
        "60",
        "--sessions",
        "2",
    ]);
    let session = run.session();
    // "node gain container <id> (shared by 2 sessions' nodes)"
    let container = run
        .line_starting("node gain")
        .split_whitespace()
        .skip_while(|word| *word != "container")
        .nth(1)
        .unwrap()
        .to_owned();
    let inspected = rt
        .block_on(docker.inspect_container(&container, None))
        .unwrap();
    let mode = inspected.host_config.and_then(|h| h.network_mode).unwrap();
    assert_eq!(mode, "none", "no session waits for a holder");
    let holder = rt.block_on(async {
        use futures_util::StreamExt;
        let mut events = std::pin::pin!(holder_started);
        let event = tokio::time::timeout(std::time::Duration::from_secs(30), events.next()).await;
        match event {
            Ok(Some(Ok(event))) => event.actor.and_then(|a| a.id).expect("the holder's id"),
            other => panic!("no network holder started within 30 s: {other:?}"),
        }
    });
    let holder_owner = rt
        .block_on(docker.inspect_container(&holder, None))
        .unwrap()
        .config
        .and_then(|c| c.labels)
        .and_then(|l| l.get("berth.session").cloned())
        .expect("the holder's owner label");
    run.child.kill().unwrap(); // SIGKILL: no handler, no cleanup
    let killed = std::time::Instant::now();
    let _ = run.child.wait();
    // The runner sees its owner's lock come free and stops; its container ends with it. The
    // holder waits on its own owner lock, so it ends too.
    for id in [&container, &holder] {
        let wait = rt.block_on(async {
            use futures_util::StreamExt;
            let mut stream = docker.wait_container(id, None);
            tokio::time::timeout(std::time::Duration::from_secs(15), stream.next()).await
        });
        match wait {
            Ok(Some(Ok(_))) => {}
            // A non-zero exit arrives as this error: the container stopped all the same.
            Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { .. }))) => {}
            other => {
                panic!("container {id} did not stop within 15 s of its host's death: {other:?}")
            }
        }
        eprintln!(
            "container {id} stopped {:.2} s after its host was killed",
            killed.elapsed().as_secs_f64()
        );
    }
    assert!(owner_file(&session).is_file(), "left by the dead host");
    assert!(owner_file(&holder_owner).is_file(), "left by the dead host");
    // The next start (any pipeline) sweeps what the dead session left.
    let next = berth(&[
        "run",
        &repo("examples/gain/pipeline.yaml"),
        "--seconds",
        "0.1",
    ]);
    assert!(
        next.status.success(),
        "{}",
        String::from_utf8_lossy(&next.stderr)
    );
    for id in [&container, &holder] {
        let gone = rt.block_on(docker.inspect_container(id, None));
        assert!(gone.is_err(), "container {id} was not removed: {gone:?}");
    }
    assert_eq!(iceoryx2_files_of(&session), Vec::<String>::new());
    for owner in [&session, &holder_owner] {
        assert!(
            !owner_file(owner).exists(),
            "the swept owner file of {owner} is gone"
        );
    }
}

#[test]
fn concurrent_sessions_each_get_only_their_own_frames() {
    let _one = one_at_a_time();
    let out = berth(&[
        "run",
        &repo("examples/gain/pipeline.yaml"),
        "--sessions",
        "3",
        "--seconds",
        "0.5",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("session "))
        .collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in &lines {
        assert!(
            line.contains("sent 25 received 25 lost 0 foreign 0"),
            "{line}"
        );
    }
    // Each session had its own pitch, so each output differs.
    let sums: std::collections::HashSet<&str> = lines
        .iter()
        .filter_map(|l| l.split("checksum ").nth(1)?.split_whitespace().next())
        .collect();
    assert_eq!(sums.len(), 3, "{stdout}");
    assert!(
        stdout.contains("3 sessions: sent 75 received 75 lost 0 foreign 0"),
        "{stdout}"
    );
}

#[test]
fn five_concurrent_container_sessions_for_a_minute_account_for_every_frame() {
    let _one = one_at_a_time();
    if !docker_available() {
        return;
    }
    // Live pace: a 20 ms frame every 20 ms per session, for 60 s, one shared container.
    let out = berth(&[
        "run",
        &repo("examples/gain-docker/pipeline.yaml"),
        "--sessions",
        "5",
        "--seconds",
        "60",
        "--realtime",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("(shared by 5 sessions' nodes)"),
        "the 5 sessions share one container: {stderr}"
    );
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("session "))
        .collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    for line in &lines {
        assert!(
            line.contains("sent 3000 received 3000 lost 0 foreign 0"),
            "{line}"
        );
    }
    assert!(
        stdout.contains("5 sessions: sent 15000 received 15000 lost 0 foreign 0"),
        "{stdout}"
    );
    eprintln!(
        "{}",
        stdout
            .lines()
            .find(|l| l.starts_with("5 sessions"))
            .unwrap_or_default()
    );
}

#[test]
fn run_prints_what_each_node_used() {
    let _one = one_at_a_time();
    if !docker_available() {
        return;
    }
    let out = berth(&[
        "run",
        &repo("examples/gain-docker/pipeline.yaml"),
        "--seconds",
        "1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("CPU ms"), "a usage table: {stdout}");
    let row = stdout
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("gain"))
        .unwrap_or_else(|| panic!("a row for the node: {stdout}"));
    let fields: Vec<&str> = row.split_whitespace().collect();
    let cpu: f64 = fields[2].parse().unwrap();
    assert!(cpu > 0.0, "{row}");
    assert!(
        row.contains("cgroup v"),
        "measured from the container's cgroup: {row}"
    );
    assert!(
        row.contains("512.0 MiB"),
        "the example's memory limit: {row}"
    );
}

/// Runs `berth ps --json` and returns its document.
fn ps_json(interval: &str) -> serde_json::Value {
    let out = berth(&["ps", "--json", "--interval", interval]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ps --json prints JSON")
}

/// The nodes `berth ps --json` shows for `session`.
fn ps_nodes(doc: &serde_json::Value, session: &str) -> Vec<serde_json::Value> {
    doc["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["session_id"] == session)
        .flat_map(|s| s["nodes"].as_array().unwrap().clone())
        .collect()
}

#[test]
fn ps_and_logs_show_running_sessions_from_another_process() {
    let _one = one_at_a_time();
    if !docker_available() {
        return;
    }
    // Two sessions sharing one container, and one host-process session, in two other processes.
    let mut containers = Running::start(&[
        "run",
        &repo("examples/gain-docker/pipeline.yaml"),
        "--sessions",
        "2",
        "--realtime",
        "--seconds",
        "60",
    ]);
    let docker_sessions = [containers.session(), containers.session()];
    let mut process = Running::start(&[
        "run",
        &repo("examples/gain/pipeline.yaml"),
        "--realtime",
        "--seconds",
        "60",
    ]);
    let process_session = process.session();

    // Until each runner's first report (about a second into the stream) is in the status.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let doc = loop {
        let doc = ps_json("300ms");
        let reported = docker_sessions.iter().chain([&process_session]).all(|s| {
            ps_nodes(&doc, s)
                .iter()
                .all(|n| n["frames"].as_u64() > Some(0))
        });
        if reported || std::time::Instant::now() > deadline {
            break doc;
        }
    };
    for session in &docker_sessions {
        let nodes = ps_nodes(&doc, session);
        assert_eq!(nodes.len(), 1, "session {session} and its node: {doc:#}");
        let gain = &nodes[0];
        assert_eq!(gain["node_id"], "gain");
        assert_eq!(gain["backend"], "docker");
        assert_eq!(gain["state"], "running");
        assert_eq!(gain["shared_by"], 2, "one container for both: {gain:#}");
        assert_eq!(gain["image"], "berth/python:3.11");
        assert!(gain["cpu_seconds"].as_f64() > Some(0.0), "{gain:#}");
        assert!(gain["cpu_percent"].as_f64() > Some(0.0), "{gain:#}");
        assert!(gain["memory_bytes"].as_u64() > Some(0), "{gain:#}");
        assert_eq!(gain["memory_limit_bytes"], 512u64 << 20);
        assert!(gain["frames"].as_u64() > Some(0), "{gain:#}");
        assert!(
            gain["node_cpu_seconds"].as_f64() > Some(0.0),
            "this session's share: {gain:#}"
        );
    }
    let container = ps_nodes(&doc, &docker_sessions[0])[0]["id"].clone();
    assert_eq!(ps_nodes(&doc, &docker_sessions[1])[0]["id"], container);
    let host = &ps_nodes(&doc, &process_session)[0];
    assert_eq!(host["backend"], "process");
    assert!(host["memory_bytes"].as_u64() > Some(0), "{host:#}");
    assert!(host["cpu_seconds"].as_f64() > Some(0.0), "{host:#}");

    // The table names every session.
    let table = String::from_utf8_lossy(&berth(&["ps", "--interval", "100ms"]).stdout).into_owned();
    for session in docker_sessions.iter().chain([&process_session]) {
        assert!(table.contains(session.as_str()), "{table}");
    }

    // Logs: the container's from Docker, the host process's from its file; each line timed.
    for session in docker_sessions.iter().chain([&process_session]) {
        let out = berth(&["logs", session, "gain"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ready = stdout
            .lines()
            .find(|l| l.contains("berth[") && l.contains("ready"))
            .unwrap_or_else(|| panic!("the runner's ready line: {stdout}"));
        let mut fields = ready.split_whitespace();
        let time = fields.next().unwrap();
        assert!(time.len() >= 20 && time.as_bytes()[10] == b'T', "{ready}");
        assert_eq!(fields.next(), Some(session.as_str()), "{ready}");
        assert_eq!(fields.next(), Some("gain"), "{ready}");
    }
    let missing = berth(&["logs", &process_session, "nope"]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("its nodes: gain"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );

    // A follower ends by itself when its session does.
    let mut follower = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["logs", &process_session, "--follow"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut followed_lines =
        std::io::BufRead::lines(std::io::BufReader::new(follower.stdout.take().unwrap()));
    let first = followed_lines.next().expect("a line").unwrap();
    assert!(first.contains(&process_session), "{first}");
    for run in [&process, &containers] {
        let status = Command::new("kill")
            .args(["-INT", &run.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let (status, stdout) = process.finish();
    assert_eq!(status.code(), Some(130), "{stdout}");
    let (status, stdout) = containers.finish();
    assert_eq!(status.code(), Some(130), "{stdout}");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rest: Vec<String> = followed_lines.map_while(Result::ok).collect();
        tx.send((follower.wait(), rest))
    });
    let (status, rest) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the follower ended with its session");
    assert!(status.unwrap().success());
    assert!(
        std::iter::once(&first)
            .chain(&rest)
            .any(|l| l.contains("ready")),
        "{first}\n{}",
        rest.join("\n")
    );

    // Gone from the view with their sessions.
    let doc = ps_json("100ms");
    for session in docker_sessions.iter().chain([&process_session]) {
        assert!(ps_nodes(&doc, session).is_empty(), "{doc:#}");
    }
}
