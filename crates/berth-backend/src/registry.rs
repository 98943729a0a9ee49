//! Backends registered at link time through `inventory`.

use std::sync::Arc;

use crate::{Backend, BackendError};

/// A backend implementation, submitted with `inventory::submit!` by its plugin crate.
pub struct BackendPlugin {
    /// The executor name it serves (`docker`, `process`).
    pub name: &'static str,
    /// Builds the backend.
    pub create: fn() -> Result<Arc<dyn Backend>, BackendError>,
}

inventory::collect!(BackendPlugin);

impl berth_registry::Registered for BackendPlugin {
    const KIND: &'static str = "backend";

    fn name(&self) -> &'static str {
        self.name
    }
}

/// Names of every registered backend, sorted.
///
/// # Panics
/// If two plugins register the same name: that is a build mistake, not a runtime condition.
pub fn backend_names() -> Vec<&'static str> {
    berth_registry::names::<BackendPlugin>()
}

/// Builds the backend registered as `name`.
pub fn backend_by_name(name: &str) -> Result<Arc<dyn Backend>, BackendError> {
    let plugin =
        berth_registry::find::<BackendPlugin>(name).map_err(|e| BackendError::Unavailable {
            backend: "registry",
            detail: e.to_string(),
            fix: format!("depend on the plugin crate that provides `{name}`"),
        })?;
    (plugin.create)()
}
