//! `DOCKER_HOST` is honoured. This binary holds a single test because it changes the process
//! environment, which other tests running in parallel threads would otherwise observe.

use std::time::{Duration, Instant};

use berth_backend::BackendError;
use berth_docker::DockerBackend;

#[tokio::test]
async fn docker_host_names_the_daemon_and_the_error_says_so() {
    // SAFETY: the only test of this binary; no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("DOCKER_HOST", "unix:///no/such.sock") };
    let started = Instant::now();
    let err = DockerBackend::connect().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, BackendError::Unavailable { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("unix:///no/such.sock"), "{text}");
    assert!(text.contains("from DOCKER_HOST"), "{text}");
    assert!(text.contains("start the Docker daemon (`systemctl start docker`), or point DOCKER_HOST at a running one"), "{text}");

    // The registered plugin reads the same variable, and only when first used.
    let backend = berth_backend::backend_by_name("docker").expect("no IO at creation");
    let err = backend.check().await.unwrap_err();
    assert!(err.to_string().contains("unix:///no/such.sock"), "{err}");
}
