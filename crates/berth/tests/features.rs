//! What a build of `berth` with some of its features does: with `process` and `iceoryx2` a
//! Python host-process node runs over real iceoryx2 shared memory; a node whose backend the
//! build leaves out is refused with the feature that builds it (the transport is checked
//! first, so those checks need `iceoryx2`). CI runs this file with the
//! default features and with `--no-default-features --features process,iceoryx2`.

use std::path::Path;

use berth::{Manifest, Session, SessionOptions};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn example(name: &str) -> Manifest {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name);
    Manifest::from_path(path.join("pipeline.yaml")).expect("the example manifest is valid")
}

#[cfg(all(feature = "process", feature = "iceoryx2"))]
#[test]
fn a_host_process_node_runs_over_iceoryx2() {
    let rt = runtime();
    let manifest = example("gain");
    rt.block_on(async {
        let mut session = Session::start(&manifest, SessionOptions::default())
            .await
            .expect("the gain example starts");
        let input: Vec<f32> = (0..960).map(|i| (i as f32 / 960.0) - 0.5).collect();
        for _ in 0..20 {
            session.send_audio("mic", &input, 48_000, 1).unwrap();
            let output = session
                .recv(std::time::Duration::from_secs(30), |out| {
                    out.audio().map(<[f32]>::to_vec)
                })
                .await
                .unwrap()
                .expect("an output within 30 s")
                .expect("an audio frame");
            assert_eq!(output.len(), input.len());
            assert!(
                input
                    .iter()
                    .zip(&output)
                    .all(|(i, o)| (i * 0.5).to_bits() == o.to_bits()),
                "the node halves every sample exactly"
            );
        }
        let stats = session.stop().await.unwrap();
        assert_eq!((stats.sent, stats.received, stats.lost), (20, 20, 0));
    });
}

#[cfg(all(not(feature = "docker"), feature = "iceoryx2"))]
#[test]
fn a_container_node_names_the_docker_feature() {
    let rt = runtime();
    let manifest = example("gain-docker");
    let err = rt
        .block_on(Session::start(&manifest, SessionOptions::default()))
        .err()
        .expect("a container node cannot start without the docker feature");
    assert!(
        matches!(
            err,
            berth::SessionError::NotBuilt {
                feature: "docker",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains("`docker` cargo feature"), "{text}");
}

#[cfg(not(feature = "iceoryx2"))]
#[test]
fn without_a_transport_a_session_names_the_iceoryx2_feature() {
    let rt = runtime();
    let err = rt
        .block_on(Session::start(&example("gain"), SessionOptions::default()))
        .err()
        .expect("no session starts without a transport");
    assert!(
        err.to_string().contains("`iceoryx2` cargo feature"),
        "{err}"
    );
}

#[cfg(all(not(feature = "process"), feature = "iceoryx2"))]
#[test]
fn a_host_process_node_names_the_process_feature() {
    let rt = runtime();
    let err = rt
        .block_on(Session::start(&example("gain"), SessionOptions::default()))
        .err()
        .expect("a host-process node cannot start without the process feature");
    assert!(err.to_string().contains("`process` cargo feature"), "{err}");
}
