//! A session that attaches to a warm container asks the Docker daemon nothing: it starts and
//! its frames flow while `DOCKER_HOST` names no daemon, and a session that needs a container
//! started still fails naming the socket. (Its own test binary: it sets `DOCKER_HOST` for the
//! whole process.)

use berth::{Runtime, SessionOptions};
use berth_backend::Backend;
use berth_tests::{assert_nothing_left, assert_scaled, docker_available, pipeline, runtime};

const GAIN: &str = r#"
version: "v1"
metadata: { name: "warm-gain" }
nodes:
  - id: gain
    node_type: Scale
    params: { gain: 0.5 }
    docker:
      python_version: "3.11"
      resource_limits: { memory_mb: MEMORY }
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: gain }
"#;

const NO_DAEMON: &str = "unix:///tmp/berth-no-such-docker.sock";

#[test]
fn a_warm_attach_asks_the_daemon_nothing() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let warm = pipeline(&GAIN.replace("MEMORY", "256"));
    // Another environment: a session of it needs a container of its own started.
    let other = pipeline(&GAIN.replace("MEMORY", "300"));
    let runtime = Runtime::new();
    assert_eq!(
        rt.block_on(runtime.warm(&warm.manifest, &SessionOptions::default()))
            .unwrap(),
        1
    );
    let owner = runtime.shared_nodes()[0].owner_id.clone();

    let real = std::env::var_os("DOCKER_HOST");
    // SAFETY: this test binary has this one test; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("DOCKER_HOST", NO_DAEMON) };
    let attached = rt.block_on(runtime.session(&warm.manifest, SessionOptions::default()));
    let cold = rt.block_on(runtime.session(&other.manifest, SessionOptions::default()));
    // SAFETY: as above.
    unsafe {
        match &real {
            Some(value) => std::env::set_var("DOCKER_HOST", value),
            None => std::env::remove_var("DOCKER_HOST"),
        }
    }

    let mut session = attached.expect("the warm container serves without the daemon");
    assert_scaled(&mut session, "gain", 5, |x| x * 0.5);
    let text = cold
        .err()
        .expect("no daemon to start a container")
        .to_string();
    assert!(text.contains("/tmp/berth-no-such-docker.sock"), "{text}");
    assert!(text.contains("fix"), "{text}");

    let id = session.id().clone();
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (5, 5, 0));
    rt.block_on(runtime.cool());
    assert_eq!(
        runtime.shared_nodes(),
        Vec::new(),
        "no shared container left"
    );
    let docker = berth_docker::DockerBackend::new();
    for owner in [id.as_str(), owner.as_str()] {
        assert_eq!(
            rt.block_on(docker.session_resources(owner)).unwrap(),
            Vec::<String>::new()
        );
    }
    assert_nothing_left(&id);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}
