//! Shared by the Docker backend's tests: the daemon (or a loud skip), the test image, session ids.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use berth_backend::{Backend, LaunchSpec};
use berth_docker::DockerBackend;
use berth_images::{BaseMode, ImageBuilder, ImageBuilderConfig};

fn required() -> bool {
    std::env::var("BERTH_REQUIRE_DOCKER").is_ok_and(|v| v == "1")
}

fn skip(why: &str) {
    eprintln!("SKIPPED: {why} (set BERTH_REQUIRE_DOCKER=1 to make this a failure)");
}

/// The backend, connected, or `None` (after a loud skip line) when the daemon is unreachable
/// and `BERTH_REQUIRE_DOCKER` is not `1`.
pub async fn backend() -> Option<DockerBackend> {
    match DockerBackend::connect().await {
        Ok(backend) => Some(backend),
        Err(e) if required() => panic!("BERTH_REQUIRE_DOCKER=1 but: {e}"),
        Err(e) => {
            skip(&format!("Docker daemon not reachable ({e})"));
            None
        }
    }
}

/// The backend and the image to test with, or `None` (after a loud skip line) when the daemon
/// is unreachable or has no usable image and `BERTH_REQUIRE_DOCKER` is not `1`.
pub async fn backend_and_image() -> Option<(DockerBackend, String)> {
    let backend = backend().await?;
    match test_image(&backend).await {
        Ok(image) => Some((backend, image)),
        Err(e) if required() => panic!("BERTH_REQUIRE_DOCKER=1 but: {e}"),
        Err(e) => {
            skip(&e);
            None
        }
    }
}

/// `BERTH_TEST_IMAGE`, else the standard `berth/python:3.11`, built (once per process, and
/// once per machine under the image builder's lock) by the same library code users call.
pub async fn test_image(_backend: &DockerBackend) -> Result<String, String> {
    static IMAGE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    if let Ok(image) = std::env::var("BERTH_TEST_IMAGE") {
        return Ok(image);
    }
    IMAGE
        .get_or_try_init(|| async {
            let docker = berth_docker::connect_client()
                .await
                .map_err(|e| e.to_string())?;
            let builder = ImageBuilder::with_config(docker, ImageBuilderConfig::default());
            let progress = |line: &str| eprintln!("  test image | {line}");
            builder
                .ensure_base_image("3.11", BaseMode::Auto, &progress)
                .await
                .map(|image| image.tag)
                .map_err(|e| format!("cannot build the test image berth/python:3.11: {e}"))
        })
        .await
        .cloned()
}

/// A session id no other test uses.
pub fn session(tag: &str) -> String {
    format!("dk{tag}{:08x}", fastrand::u32(..))
}

/// A spec running `script` with `python3 -u -c` in `image`.
pub fn python_spec(session_id: &str, node_id: &str, image: &str, script: &str) -> LaunchSpec {
    LaunchSpec {
        session_id: session_id.to_owned(),
        node_id: node_id.to_owned(),
        command: vec![
            "python3".into(),
            "-u".into(),
            "-c".into(),
            script.to_owned(),
        ],
        image: Some(image.to_owned()),
        ..LaunchSpec::default()
    }
}

/// Waits (up to 10 s) until the session holds no container; panics naming what is left.
pub async fn assert_session_empty(backend: &DockerBackend, session_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = backend.session_resources(session_id).await.expect("list");
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!("session {session_id} left containers behind: {left:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to 10 s) until a log line contains `needle`.
pub async fn wait_for_line(logs: &berth_backend::LogTail, needle: &str) -> bool {
    for _ in 0..1000 {
        if logs.lines().iter().any(|l| l.text.contains(needle)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
