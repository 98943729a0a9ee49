//! A daemon that is missing, refuses, or hangs is reported quickly, naming the address tried
//! and the fix. No daemon is needed for these tests.

use std::time::{Duration, Instant};

use berth_backend::{Backend, BackendError, LaunchSpec};
use berth_docker::DockerBackend;

fn socket_path(tag: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("berth-docker-{tag}-{}.sock", std::process::id()))
}

fn assert_unavailable(err: &BackendError, address: &str) {
    assert!(
        matches!(
            err,
            BackendError::Unavailable {
                backend: "docker",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(text.contains(address), "names the address: {text}");
    assert!(
        text.contains("systemctl start docker"),
        "says how to fix it: {text}"
    );
    assert!(text.contains("DOCKER_HOST"), "mentions DOCKER_HOST: {text}");
}

#[tokio::test]
async fn a_missing_socket_fails_at_once() {
    let started = Instant::now();
    let err = DockerBackend::connect_to("unix:///no/such.sock")
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_unavailable(&err, "/no/such.sock");
}

#[tokio::test]
async fn a_socket_nobody_listens_on_fails_at_once() {
    let path = socket_path("refused");
    let _ = std::fs::remove_file(&path);
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let address = format!("unix://{}", path.display());
    let started = Instant::now();
    let err = DockerBackend::connect_to(&address).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_unavailable(&err, &path.display().to_string());
    assert!(err.to_string().contains("refused"), "says why: {err}");
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn a_daemon_that_never_answers_times_out_after_the_ping_timeout() {
    let path = socket_path("silent");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    // Accepts connections and holds them without ever answering.
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let address = format!("unix://{}", path.display());
    let started = Instant::now();
    let err = DockerBackend::connect_to(&address).await.unwrap_err();
    let took = started.elapsed();
    assert!(took >= berth_docker::PING_TIMEOUT, "{took:?}");
    assert!(
        took < berth_docker::PING_TIMEOUT + Duration::from_millis(500),
        "{took:?}"
    );
    assert_unavailable(&err, &path.display().to_string());
    assert!(err.to_string().contains("within 2 s"), "{err}");
    silent.abort();
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn a_lazy_backend_reports_the_missing_daemon_on_use() {
    let backend = DockerBackend::for_host("unix:///no/such.sock");
    assert_eq!(backend.host(), "unix:///no/such.sock");
    let started = Instant::now();
    assert_unavailable(&backend.check().await.unwrap_err(), "/no/such.sock");
    let spec = LaunchSpec {
        session_id: "dkunreach".into(),
        node_id: "n".into(),
        command: vec!["true".into()],
        image: Some("berth/python:3.11".into()),
        ..LaunchSpec::default()
    };
    let err = match backend.launch(&spec).await {
        Err(err) => err,
        Ok(_) => panic!("launched without a daemon"),
    };
    assert_unavailable(&err, "/no/such.sock");
    assert_unavailable(
        &backend.session_resources("dkunreach").await.unwrap_err(),
        "/no/such.sock",
    );
    assert_unavailable(&backend.sweep_all().await.unwrap_err(), "/no/such.sock");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}
