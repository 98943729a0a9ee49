//! Hashes of a container node's definition: what its image holds, and what its container is.

use sha2::{Digest, Sha256};

use crate::schema::DockerSpec;

impl DockerSpec {
    /// sha256 (hex) of what goes into the node's image: Python version, base image, the sorted
    /// Debian packages and the pip requirements in order (trimmed). Container settings (env,
    /// volumes, limits) are not part of it: changing them reuses the image.
    pub fn environment_hash(&self) -> String {
        let mut system: Vec<&str> = self.system_dependencies.iter().map(|s| s.trim()).collect();
        system.sort_unstable();
        system.dedup();
        let canonical = serde_json::json!({
            "python_version": self.python_version.trim(),
            "base_image": self.base_image.as_deref().map(str::trim),
            "system_dependencies": system,
            "python_packages": self.python_packages.iter().map(|p| p.trim()).collect::<Vec<_>>(),
        });
        hex(canonical.to_string().as_bytes())
    }

    /// sha256 (hex) of everything that makes two containers interchangeable: the environment
    /// hash plus limits, env, volumes and network.
    pub fn container_config_hash(&self) -> String {
        let mut canonical = serde_json::json!({
            "environment": self.environment_hash(),
            "resource_limits": self.resource_limits,
            "env": self.env,
            "volumes": self.volumes,
        });
        if self.network != crate::schema::DockerNetwork::None {
            // Only when set, so the hashes of existing definitions stay as they were.
            canonical["network"] = serde_json::json!(self.network);
        }
        hex(canonical.to_string().as_bytes())
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}
