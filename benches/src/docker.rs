//! The Docker switch: container cases run when the daemon answers and the node image exists;
//! otherwise they are skipped with a loud message, or fail when `BERTH_REQUIRE_DOCKER=1`.

use std::sync::Arc;

use async_trait::async_trait;
use berth::SessionError;
use berth::images::ImageProvider;
use berth_manifest::DockerSpec;

/// The image container nodes run in unless `BERTH_BENCH_IMAGE` names another one.
pub const DEFAULT_IMAGE: &str = "berth/python:3.11";

/// The image the container cases use: `$BERTH_BENCH_IMAGE`, else [`DEFAULT_IMAGE`].
pub fn image_name() -> String {
    std::env::var("BERTH_BENCH_IMAGE")
        .ok()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.into())
}

fn required() -> bool {
    std::env::var("BERTH_REQUIRE_DOCKER").as_deref() == Ok("1")
}

/// Prints a banner nobody can miss (or panics when Docker is required) and returns `None`.
pub fn skip<T>(what: &str, why: &str) -> Option<T> {
    if required() {
        panic!("BERTH_REQUIRE_DOCKER=1 but {what} cannot run: {why}");
    }
    let line = "=".repeat(78);
    eprintln!(
        "\n{line}\nSKIPPED: {what}\n  {why}\n  (set BERTH_REQUIRE_DOCKER=1 to make this a failure)\n{line}\n"
    );
    None
}

/// The image to run container nodes in, if the daemon answers and the image is built.
pub fn container_image(rt: &tokio::runtime::Runtime, what: &str) -> Option<String> {
    // Links the Docker backend, so the session finds it by name.
    let _ = berth_docker::DEFAULT_HOST;
    let backend = match rt.block_on(berth_docker::DockerBackend::connect()) {
        Ok(backend) => backend,
        Err(e) => return skip(what, &format!("the Docker daemon is not reachable: {e}")),
    };
    let image = image_name();
    let client = match rt.block_on(backend.client()) {
        Ok(client) => client,
        Err(e) => return skip(what, &format!("the Docker daemon is not reachable: {e}")),
    };
    match rt.block_on(client.inspect_image(&image)) {
        Ok(_) => Some(image),
        Err(e) => skip(
            what,
            &format!(
                "the node image `{image}` is not available ({e}); build it with \
                 `cargo xtask build-images --python 3.11`, or name a built image in BERTH_BENCH_IMAGE"
            ),
        ),
    }
}

/// An image provider that always answers with one already built image, so a session's start
/// time is the containers' start, not an image check or build.
pub struct FixedImage(pub String);

#[async_trait]
impl ImageProvider for FixedImage {
    async fn image_for(
        &self,
        _node_id: &str,
        _docker: &DockerSpec,
    ) -> Result<String, SessionError> {
        Ok(self.0.clone())
    }
}

/// [`FixedImage`] as the session option expects it.
pub fn fixed_image(image: &str) -> Arc<dyn ImageProvider> {
    Arc::new(FixedImage(image.to_owned()))
}
