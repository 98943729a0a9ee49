//! The Docker backend runs the whole backend conformance suite against the real daemon.
//!
//! Without a reachable daemon (or without a test image) every check prints a `SKIPPED:` line
//! and passes, unless `BERTH_REQUIRE_DOCKER=1`. The image is `BERTH_TEST_IMAGE`, else the first
//! local one of `berth/python:3.11`, `berth/rootfs:bookworm`, `berth-test/python:bookworm`.

mod common;

use std::sync::{Arc, OnceLock};

use berth_backend::Backend;
use berth_backend::conformance::Harness;

static IMAGE: OnceLock<String> = OnceLock::new();

async fn backend() -> Option<Arc<dyn Backend>> {
    let (backend, image) = common::backend_and_image().await?;
    let _ = IMAGE.set(image);
    Some(Arc::new(backend))
}

fn harness() -> Harness {
    Harness {
        python: "python3".into(),
        image: IMAGE.get().cloned(),
    }
}

berth_backend::backend_conformance_tests!(backend, harness);
