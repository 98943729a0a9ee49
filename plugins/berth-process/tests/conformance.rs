//! The host-process backend runs the whole backend conformance suite.

use std::sync::Arc;

use berth_backend::Backend;
use berth_backend::conformance::Harness;

async fn backend() -> Option<Arc<dyn Backend>> {
    Some(Arc::new(berth_process::ProcessBackend::new()))
}

fn harness() -> Harness {
    Harness {
        python: std::env::var("BERTH_PYTHON").unwrap_or_else(|_| "python3".into()),
        image: None,
    }
}

berth_backend::backend_conformance_tests!(backend, harness);
