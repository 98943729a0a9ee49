//! A runtime's containers without network share one network namespace, held by a container
//! the runtime starts once its first session is up and keeps (so Docker makes no namespace at
//! each later start), and that holder goes at shutdown. A session outside a runtime, and the
//! first session of a runtime, keep a namespace per container. Real Docker, real
//! iceoryx2. Without a daemon these tests say so loudly and pass, unless
//! `BERTH_REQUIRE_DOCKER=1`.

use berth::{Runtime, SessionOptions};
use berth_tests::{
    Pipeline, assert_nothing_left, assert_scaled, docker_available, pipeline, runtime,
};
use berth_transport::SessionId;
use bollard::Docker;
use bollard::models::ContainerInspectResponse;

const GAIN: &str = r#"
version: "v1"
metadata: { name: "network-gain" }
nodes:
  - id: gain
    node_type: Scale
    params: { gain: 0.5 }
    docker:
      python_version: "3.11"
      shared: SHARED
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: gain }
"#;

/// A tokio runtime and a Docker client; `None` (said loudly) without a daemon.
fn with_docker() -> Option<(tokio::runtime::Runtime, Docker)> {
    let rt = runtime();
    if !docker_available(&rt) {
        return None;
    }
    let docker = rt.block_on(berth_docker::connect_client()).unwrap();
    Some((rt, docker))
}

/// The gain pipeline, its container shared between sessions or each session's own.
fn gain(shared: bool) -> Pipeline {
    pipeline(&GAIN.replace("SHARED", &shared.to_string()))
}

fn inspect(rt: &tokio::runtime::Runtime, docker: &Docker, id: &str) -> ContainerInspectResponse {
    rt.block_on(docker.inspect_container(id, None))
        .unwrap_or_else(|e| panic!("inspect {id}: {e}"))
}

fn network_mode(container: &ContainerInspectResponse) -> String {
    container
        .host_config
        .as_ref()
        .and_then(|h| h.network_mode.clone())
        .expect("a network mode")
}

#[test]
fn a_runtimes_containers_share_one_network_namespace_until_it_shuts_down() {
    let Some((rt, docker)) = with_docker() else {
        return;
    };
    let shared = gain(true);
    let own = gain(false);

    // Outside a runtime: a namespace of its own, as Docker's `none` gives.
    let mut alone = rt
        .block_on(berth::Session::start(
            &own.manifest,
            SessionOptions::default(),
        ))
        .unwrap();
    let container = inspect(&rt, &docker, &alone.nodes()[0].id);
    assert_eq!(network_mode(&container), "none");
    assert_scaled(&mut alone, "gain", 3, |x| x * 0.5);
    let alone_id = alone.id().clone();
    rt.block_on(alone.stop()).unwrap();
    assert_nothing_left(&alone_id);

    // In a runtime: the first session waits for no holder: its container gets a namespace
    // of its own, and the holder starts once it is up.
    let runtime = Runtime::new();
    let mut first = rt
        .block_on(runtime.session(&own.manifest, SessionOptions::default()))
        .unwrap();
    assert_eq!(
        network_mode(&inspect(&rt, &docker, &first.nodes()[0].id)),
        "none"
    );
    // Every later one joins it: a shared container and a session's own container.
    let mut a = rt
        .block_on(runtime.session(&shared.manifest, SessionOptions::default()))
        .unwrap();
    let mut b = rt
        .block_on(runtime.session(&own.manifest, SessionOptions::default()))
        .unwrap();
    let joined: Vec<String> = [&a, &b]
        .iter()
        .map(|s| network_mode(&inspect(&rt, &docker, &s.nodes()[0].id)))
        .collect();
    let holder_id = joined[0]
        .strip_prefix("container:")
        .unwrap_or_else(|| panic!("joined a holder: {joined:?}"))
        .to_owned();
    assert_eq!(joined[1], joined[0], "one namespace for both");
    let holder = inspect(&rt, &docker, &holder_id);
    assert_eq!(network_mode(&holder), "none", "loopback only");
    assert_eq!(holder.state.as_ref().and_then(|s| s.running), Some(true));
    let labels = holder
        .config
        .as_ref()
        .and_then(|c| c.labels.clone())
        .expect("labels");
    assert_eq!(labels["berth.managed-by"], "berth");
    assert_eq!(labels["berth.node"], "network");
    let owner = labels["berth.session"].clone();
    let owner_file = berth_cache::default_cache_dir()
        .join("sessions")
        .join(format!("{owner}.owner"));
    assert!(owner_file.exists(), "owned like a session: {owner_file:?}");

    // Frames flow as ever, and the holder outlives the sessions.
    assert_scaled(&mut first, "gain", 5, |x| x * 0.5);
    assert_scaled(&mut a, "gain", 5, |x| x * 0.5);
    assert_scaled(&mut b, "gain", 5, |x| x * 0.5);
    let ids = [first.id().clone(), a.id().clone(), b.id().clone()];
    for session in [first, a, b] {
        rt.block_on(session.stop()).unwrap();
    }
    let holder = inspect(&rt, &docker, &holder_id);
    assert_eq!(holder.state.as_ref().and_then(|s| s.running), Some(true));

    // A session started now joins the same holder.
    let mut c = rt
        .block_on(runtime.session(&own.manifest, SessionOptions::default()))
        .unwrap();
    assert_eq!(
        network_mode(&inspect(&rt, &docker, &c.nodes()[0].id)),
        format!("container:{holder_id}")
    );
    assert_scaled(&mut c, "gain", 2, |x| x * 0.5);
    let c_id = c.id().clone();
    rt.block_on(c.stop()).unwrap();

    rt.block_on(runtime.shutdown());
    let gone = rt.block_on(docker.inspect_container(&holder_id, None));
    assert!(gone.is_err(), "the holder is removed at shutdown: {gone:?}");
    assert!(!owner_file.exists(), "its owner file too");
    for id in ids.iter().chain([&c_id, &SessionId::new(owner).unwrap()]) {
        assert_nothing_left(id);
    }
}

#[test]
fn sessions_starting_together_get_namespaces_of_their_own_and_the_holder_comes_after() {
    let Some((rt, docker)) = with_docker() else {
        return;
    };
    let own = gain(false);
    let runtime = Runtime::new();
    // Started at once: neither waits for a holder.
    let (first, second) = rt.block_on(async {
        tokio::join!(
            runtime.session(&own.manifest, SessionOptions::default()),
            runtime.session(&own.manifest, SessionOptions::default()),
        )
    });
    let mut sessions = vec![first.unwrap(), second.unwrap()];
    for session in &sessions {
        let mode = network_mode(&inspect(&rt, &docker, &session.nodes()[0].id));
        assert_eq!(mode, "none", "a namespace of its own");
    }
    // Once both are up the holder starts, and the next session joins it.
    let mut next = rt
        .block_on(runtime.session(&own.manifest, SessionOptions::default()))
        .unwrap();
    let joined = network_mode(&inspect(&rt, &docker, &next.nodes()[0].id));
    assert!(
        joined.starts_with("container:"),
        "joined a holder: {joined}"
    );
    assert_scaled(&mut next, "gain", 3, |x| x * 0.5);
    for session in &mut sessions {
        assert_scaled(session, "gain", 3, |x| x * 0.5);
    }
    sessions.push(next);
    let ids: Vec<_> = sessions.iter().map(|s| s.id().clone()).collect();
    for session in sessions {
        rt.block_on(session.stop()).unwrap();
    }
    rt.block_on(runtime.shutdown());
    for id in &ids {
        assert_nothing_left(id);
    }
}
