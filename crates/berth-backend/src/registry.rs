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

/// Names of every registered backend, sorted.
///
/// # Panics
/// If two plugins register the same name: that is a build mistake, not a runtime condition.
pub fn backend_names() -> Vec<&'static str> {
    let mut names: Vec<_> = inventory::iter::<BackendPlugin>
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort_unstable();
    if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
        panic!(
            "two backends are registered as `{}`: link only one of them",
            pair[0]
        );
    }
    names
}

/// Builds the backend registered as `name`.
pub fn backend_by_name(name: &str) -> Result<Arc<dyn Backend>, BackendError> {
    let names = backend_names();
    let plugin = inventory::iter::<BackendPlugin>
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| BackendError::Unavailable {
            backend: "registry",
            detail: format!(
                "no backend named `{name}` is linked in (registered: {})",
                names.join(", ")
            ),
            fix: format!("depend on the plugin crate that provides `{name}`"),
        })?;
    (plugin.create)()
}
