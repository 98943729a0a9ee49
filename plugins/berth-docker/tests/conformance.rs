//! The Docker backend runs the whole backend conformance suite against the real daemon.
//!
//! Without a reachable daemon every check prints a `SKIPPED:` line and passes, unless
//! `BERTH_REQUIRE_DOCKER=1`. The image is `BERTH_TEST_IMAGE`, else `berth/python:3.11`, built
//! on first use if missing.

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
