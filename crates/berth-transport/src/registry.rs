//! Transports registered at link time through `inventory`.

use std::sync::Arc;

use crate::{Transport, TransportError};

/// A transport implementation, submitted with `inventory::submit!` by its plugin crate.
pub struct TransportPlugin {
    /// The name users select it by.
    pub name: &'static str,
    /// Builds the transport.
    pub create: fn() -> Result<Arc<dyn Transport>, TransportError>,
}

inventory::collect!(TransportPlugin);

impl berth_registry::Registered for TransportPlugin {
    const KIND: &'static str = "transport";

    fn name(&self) -> &'static str {
        self.name
    }
}

/// Names of every registered transport, sorted.
///
/// # Panics
/// If two plugins register the same name: that is a build mistake, not a runtime condition.
pub fn transport_names() -> Vec<&'static str> {
    berth_registry::names::<TransportPlugin>()
}

/// Builds the transport registered as `name`.
pub fn transport_by_name(name: &str) -> Result<Arc<dyn Transport>, TransportError> {
    let plugin =
        berth_registry::find::<TransportPlugin>(name).map_err(|e| TransportError::Backend {
            transport: "registry",
            operation: "lookup",
            channel: name.to_owned(),
            detail: e.to_string(),
        })?;
    (plugin.create)()
}

inventory::submit! {
    TransportPlugin { name: "memory", create: || Ok(Arc::new(crate::memory::MemoryTransport::new())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memory_transport_is_registered() {
        assert!(transport_names().contains(&"memory"));
        assert_eq!(transport_by_name("memory").unwrap().name(), "memory");
        let err = transport_by_name("carrier-pigeon")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("registered: ") && err.contains("memory"),
            "{err}"
        );
    }
}
