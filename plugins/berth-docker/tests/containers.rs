//! What the Docker backend asks of the daemon, checked on real containers: isolation settings,
//! shared memory with the host, clear launch errors, memory reports, and cleanup.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_backend::conformance::block_on;
use berth_backend::{Backend, BackendError, Limits, Mount};
use berth_docker::DockerBackend;
use bollard::query_parameters::ListContainersOptions;
use common::{assert_session_empty, python_spec, session, wait_for_line};

const SLEEPER: &str = "import time; print('up'); time.sleep(60)";

/// Every container of `session_id`, running or not, straight from the daemon.
async fn containers_of(backend: &DockerBackend, session_id: &str) -> Vec<String> {
    let options = ListContainersOptions {
        all: true,
        filters: Some(
            [(
                "label".to_owned(),
                vec![format!("berth.session={session_id}")],
            )]
            .into(),
        ),
        ..ListContainersOptions::default()
    };
    let docker = backend.client().await.expect("client");
    docker
        .list_containers(Some(options))
        .await
        .expect("list")
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect()
}

fn host_uid_gid() -> String {
    use std::os::unix::fs::MetadataExt;
    let me = std::fs::metadata("/proc/self").expect("/proc/self");
    format!("{}:{}", me.uid(), me.gid())
}

#[test]
fn containers_get_exactly_the_isolation_asked_for() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("set");
        let host_dir = std::env::temp_dir().join(format!("berth-docker-{session_id}"));
        std::fs::create_dir_all(&host_dir).unwrap();
        let mut spec = python_spec(&session_id, "settings", &image, SLEEPER);
        spec.limits = Limits {
            memory_bytes: Some(256 << 20),
            cpu_cores: Some(0.5),
        };
        spec.cpuset = Some("0".into());
        spec.mounts = vec![Mount {
            host_path: host_dir.clone(),
            container_path: PathBuf::from("/models"),
            read_only: true,
        }];
        spec.labels = BTreeMap::from([("berth.env-hash".into(), "abc123".into())]);
        spec.working_dir = Some(PathBuf::from("/tmp"));

        let node = backend.launch(&spec).await.expect("launch");
        assert!(wait_for_line(node.logs(), "up").await);
        let inspect = backend
            .client()
            .await
            .unwrap()
            .inspect_container(node.id(), None)
            .await
            .expect("inspect");
        let host = inspect.host_config.expect("host config");
        let config = inspect.config.expect("config");

        let mount = format!("{}:/models:ro", host_dir.display());
        assert_eq!(
            host.binds.clone().unwrap(),
            vec![mount.as_str()],
            "exactly the spec's mounts (a transport's folders come as mounts too)"
        );
        let mut destinations: Vec<String> = inspect
            .mounts
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.destination)
            .collect();
        destinations.sort();
        assert_eq!(
            destinations,
            vec!["/models"],
            "nothing but what was asked for"
        );
        assert_eq!(config.user.as_deref(), Some(host_uid_gid().as_str()));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.memory_swap, host.memory);
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.cpuset_cpus.as_deref(), Some("0"));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(
            host.security_opt,
            Some(vec!["no-new-privileges".to_owned()])
        );
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.auto_remove, Some(false));
        assert_eq!(host.init, Some(true));
        assert_eq!(config.working_dir.as_deref(), Some("/tmp"));
        let labels = config.labels.unwrap_or_default();
        assert_eq!(labels["berth.managed-by"], "berth");
        assert_eq!(labels["berth.session"], session_id);
        assert_eq!(labels["berth.node"], "settings");
        assert_eq!(labels["berth.env-hash"], "abc123");
        let env = config.env.unwrap_or_default();
        assert!(
            env.contains(&"BERTH_MANAGED_BY=berth".to_owned()),
            "{env:?}"
        );
        assert!(
            env.contains(&format!("BERTH_SESSION_ID={session_id}")),
            "{env:?}"
        );
        let name = inspect.name.unwrap_or_default();
        assert!(
            name.starts_with(&format!("/berth-{session_id}-settings-")),
            "{name}"
        );
        let line = node.logs().lines().into_iter().find(|l| l.text == "up");
        let timestamp = line.and_then(|l| l.timestamp).expect("Docker's timestamp");
        assert!(
            timestamp.contains('T') && timestamp.len() >= 20,
            "{timestamp}"
        );

        node.stop(Duration::from_secs(1)).await.expect("stop");
        assert_eq!(
            containers_of(&backend, &session_id).await,
            Vec::<String>::new()
        );
        std::fs::remove_dir_all(&host_dir).unwrap();
    });
}

#[test]
fn networking_is_opt_in() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let backend = backend.with_network(true);
        let session_id = session("net");
        let node = backend
            .launch(&python_spec(&session_id, "net", &image, "print('hi')"))
            .await
            .expect("launch");
        let inspect = backend
            .client()
            .await
            .unwrap()
            .inspect_container(node.id(), None)
            .await
            .expect("inspect");
        let mode = inspect
            .host_config
            .unwrap()
            .network_mode
            .unwrap_or_default();
        assert_ne!(mode, "none");
        node.stop(Duration::from_secs(1)).await.expect("stop");
        assert_session_empty(&backend, &session_id).await;
    });
}

#[test]
fn the_folders_a_transport_shares_are_really_shared() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("shm");
        let from_host = format!("/dev/shm/berth_{session_id}_from_host");
        let from_container = format!("/dev/shm/berth_{session_id}_from_container");
        let in_root = format!("/dev/shm/iceoryx2/berth_{session_id}_probe");
        std::fs::write(&from_host, "written by the host").unwrap();
        let script = format!(
            "print(open('{from_host}').read())\n\
             open('{from_container}', 'w').write('written by the container')\n\
             open('{in_root}', 'w').write('root path')\n"
        );
        // What the iceoryx2 transport asks for: /dev/shm, writable, at the same path; its root
        // (service files, event sockets) is a folder in it.
        std::fs::create_dir_all("/dev/shm/iceoryx2").unwrap();
        let mut spec = python_spec(&session_id, "shm", &image, &script);
        spec.mounts = ["/dev/shm"]
            .into_iter()
            .map(|path| Mount {
                host_path: PathBuf::from(path),
                container_path: PathBuf::from(path),
                read_only: false,
            })
            .collect();
        let node = backend.launch(&spec).await.expect("launch");
        let report = node.wait().await;
        assert!(
            report.success(),
            "{report}: {:?}",
            node.logs().last_text(10)
        );
        assert!(wait_for_line(node.logs(), "written by the host").await);
        assert_eq!(
            std::fs::read_to_string(&from_container).unwrap(),
            "written by the container"
        );
        assert_eq!(std::fs::read_to_string(&in_root).unwrap(), "root path");
        // Written as the host's own user, so host processes can open it.
        use std::os::unix::fs::MetadataExt;
        let owner = std::fs::metadata(&from_container).unwrap();
        assert_eq!(format!("{}:{}", owner.uid(), owner.gid()), host_uid_gid());
        for file in [&from_host, &from_container, &in_root] {
            std::fs::remove_file(file).unwrap();
        }
        node.stop(Duration::from_secs(1)).await.expect("stop");
        assert_session_empty(&backend, &session_id).await;
    });
}

#[test]
fn a_missing_image_says_how_to_build_it() {
    block_on(async {
        let Some((backend, _)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("img");
        let spec = python_spec(&session_id, "img", "berth-test/no-such-image:never", "pass");
        let err = match backend.launch(&spec).await {
            Err(err) => err,
            Ok(_) => panic!("launched from an image that does not exist"),
        };
        let text = err.to_string();
        assert!(text.contains("berth-test/no-such-image:never"), "{text}");
        assert!(text.contains("not found locally"), "{text}");
        assert!(text.contains("cargo xtask build-images"), "{text}");

        let mut spec = spec;
        spec.image = None;
        let err = match backend.launch(&spec).await {
            Err(err) => err,
            Ok(_) => panic!("launched without an image"),
        };
        assert!(matches!(err, BackendError::Launch { .. }), "{err}");
        assert!(err.to_string().contains("needs an image"), "{err}");
        assert_session_empty(&backend, &session_id).await;
    });
}

#[test]
fn memory_use_is_reported_and_an_oom_kill_names_the_limit() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("mem");
        // Holds 64 MiB for a while: the samples must see it.
        let script = "import time\nb = bytearray(64 << 20)\nprint('holding')\ntime.sleep(1.5)\n";
        let mut spec = python_spec(&session_id, "steady", &image, script);
        spec.limits.memory_bytes = Some(256 << 20);
        let node = backend.launch(&spec).await.expect("launch");
        let report = node.wait().await;
        assert!(report.success(), "{report}");
        assert_eq!(report.memory_limit_bytes, Some(256 << 20));
        let peak = report.memory_peak_bytes.expect("a sampled peak");
        assert!((64 << 20..256 << 20).contains(&peak), "peak {peak}");
        node.stop(Duration::from_secs(1)).await.expect("stop");

        let script = "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n";
        let mut spec = python_spec(&session_id, "hungry", &image, script);
        spec.limits.memory_bytes = Some(64 << 20);
        let node = backend.launch(&spec).await.expect("launch");
        let report = node.wait().await;
        assert!(report.oom_killed, "{report}");
        assert_eq!(report.code, Some(137), "{report}");
        assert_eq!(report.memory_limit_bytes, Some(64 << 20));
        assert_eq!(report.memory_peak_bytes, Some(64 << 20));
        assert!(
            report
                .to_string()
                .starts_with("killed for exceeding its memory limit of 64 MiB"),
            "{report}"
        );
        node.stop(Duration::from_secs(1)).await.expect("stop");
        assert_session_empty(&backend, &session_id).await;
    });
}

#[test]
fn stop_is_idempotent_and_reports_the_same_exit() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("idem");
        let node = backend
            .launch(&python_spec(&session_id, "twice", &image, SLEEPER))
            .await
            .expect("launch");
        assert!(wait_for_line(node.logs(), "up").await);
        let first = node.stop(Duration::from_secs(1)).await.expect("stop");
        let second = node.stop(Duration::from_secs(1)).await.expect("stop again");
        assert_eq!(first, second);
        // Python's default SIGTERM action ends it: 128 + 15 through Docker's init.
        assert_eq!(first.code, Some(143), "{first}");
        assert_eq!(node.try_exit(), Some(first));
        assert_eq!(
            containers_of(&backend, &session_id).await,
            Vec::<String>::new()
        );
    });
}

#[test]
fn a_grace_longer_than_a_request_may_take_still_stops_gracefully() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("long");
        let script = "import signal, sys, time\n\
                      signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))\n\
                      print('up')\ntime.sleep(60)\n";
        let node = backend
            .launch(&python_spec(&session_id, "patient", &image, script))
            .await
            .expect("launch");
        assert!(wait_for_line(node.logs(), "up").await);
        let started = Instant::now();
        let report = node.stop(Duration::from_secs(300)).await.expect("stop");
        assert_eq!(report.code, Some(0), "{report}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_session_empty(&backend, &session_id).await;
    });
}

#[test]
fn sweeping_a_session_removes_its_containers() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("swp");
        let a = backend
            .launch(&python_spec(&session_id, "a", &image, SLEEPER))
            .await
            .expect("launch a");
        let b = backend
            .launch(&python_spec(&session_id, "b", &image, SLEEPER))
            .await
            .expect("launch b");
        let mut names = backend.session_resources(&session_id).await.unwrap();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(
            names[0].starts_with(&format!("berth-{session_id}-a-")),
            "{names:?}"
        );
        assert_eq!(backend.sweep_session(&session_id).await.unwrap(), 2);
        assert_eq!(
            containers_of(&backend, &session_id).await,
            Vec::<String>::new()
        );
        // The handles notice, and stopping them afterwards is harmless.
        let report = tokio::time::timeout(Duration::from_secs(10), a.wait())
            .await
            .expect("the swept node ended");
        assert!(!report.success(), "{report}");
        a.stop(Duration::from_secs(1)).await.expect("stop a");
        b.stop(Duration::from_secs(1)).await.expect("stop b");
        assert_eq!(backend.sweep_session(&session_id).await.unwrap(), 0);
    });
}

#[test]
fn a_dropped_or_aborted_node_leaves_no_container() {
    block_on(async {
        let Some((backend, image)) = common::backend_and_image().await else {
            return;
        };
        let session_id = session("drop");
        let node = backend
            .launch(&python_spec(&session_id, "dropped", &image, SLEEPER))
            .await
            .expect("launch");
        drop(node);
        assert_session_empty(&backend, &session_id).await;

        let node = backend
            .launch(&python_spec(&session_id, "aborted", &image, SLEEPER))
            .await
            .expect("launch");
        let started = Instant::now();
        node.abort();
        // `abort` is not async: it hands the removal to a task. Far under the seconds a stop
        // and removal take, yet generous for a busy machine.
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "abort does not wait: {:?}",
            started.elapsed()
        );
        assert_session_empty(&backend, &session_id).await;
        let report = tokio::time::timeout(Duration::from_secs(10), node.wait())
            .await
            .expect("the aborted node ended");
        assert!(!report.success(), "{report}");
        node.stop(Duration::from_secs(1))
            .await
            .expect("stop after abort");
    });
}

#[test]
fn the_storage_driver_is_the_one_the_daemon_reports() {
    block_on(async {
        let Some(backend) = common::backend().await else {
            return;
        };
        let driver = backend
            .storage_driver()
            .await
            .expect("connected")
            .expect("the daemon names its storage driver");
        assert!(!driver.is_empty());
        // The Docker CLI, where there is one, asks the same daemon (it reads DOCKER_HOST too).
        let cli = std::process::Command::new("docker")
            .args(["info", "--format", "{{.Driver}}"])
            .env("DOCKER_HOST", backend.host())
            .output();
        if let Some(out) = cli.ok().filter(|out| out.status.success()) {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), driver);
        }
    });
}

#[test]
fn the_plugin_is_registered_as_docker() {
    assert!(berth_backend::backend_names().contains(&"docker"));
    let backend = berth_backend::backend_by_name("docker").expect("created without IO");
    assert_eq!(backend.name(), "docker");
    let caps = backend.capabilities();
    assert!(
        caps.hard_memory_limit && caps.cpu_limit && caps.isolated_filesystem && caps.cpu_pinning
    );
}
