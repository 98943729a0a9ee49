//! Label keys and values put on every image and container this crate creates.

use std::collections::HashMap;

/// Label naming the owner of an object; its value is always [`MANAGED_BY_VALUE`].
pub const MANAGED_BY: &str = "berth.managed-by";
/// Value of [`MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "berth";
/// Label saying what an object is (see [`Kind`]).
pub const KIND: &str = "berth.kind";
/// Hash of an image's build definition; a differing hash means "rebuild".
pub const DEFINITION_HASH: &str = "berth.definition-hash";
/// Full environment hash of a node image.
pub const ENV_HASH: &str = "berth.env-hash";
/// Python version (MAJOR.MINOR) of an image.
pub const PYTHON: &str = "berth.python";
/// iceoryx2 version installed in an image.
pub const ICEORYX2: &str = "berth.iceoryx2";
/// Image a node image was built from.
pub const BASE_IMAGE: &str = "berth.base-image";
/// glibc `MAJOR.MINOR` of an image, which decides the wheels it can load.
pub const GLIBC: &str = "berth.glibc";
/// Image ID of the base a node image was built from.
pub const BASE_ID: &str = "berth.base-id";

/// What kind of object a label set describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An imported Debian root filesystem (`berth/rootfs:<suite>`).
    Rootfs,
    /// A Python base image (`berth/python:<version>`).
    Base,
    /// A node environment image (`berth/env:<hash16>`).
    Env,
    /// A short-lived container that inspects an image.
    Probe,
}

impl Kind {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Rootfs => "rootfs",
            Kind::Base => "base",
            Kind::Env => "env",
            Kind::Probe => "probe",
        }
    }
}

/// One Dockerfile `LABEL` instruction carrying all `labels` (sorted, values quoted). A single
/// instruction matters: the classic builder commits one layer per instruction.
pub(crate) fn dockerfile_instruction(labels: &HashMap<String, String>) -> String {
    let mut pairs: Vec<_> = labels.iter().collect();
    pairs.sort();
    let body: Vec<String> = pairs
        .into_iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("LABEL {}\n", body.join(" \\\n      "))
}

/// The two labels every object carries.
pub fn standard(kind: Kind) -> HashMap<String, String> {
    HashMap::from([
        (MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (KIND.to_string(), kind.as_str().to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_label_instruction() {
        let mut l = standard(Kind::Env);
        l.insert(PYTHON.to_string(), "3.11".to_string());
        assert_eq!(
            dockerfile_instruction(&l),
            "LABEL berth.kind=\"env\" \\\n      berth.managed-by=\"berth\" \\\n      berth.python=\"3.11\"\n"
        );
    }
}
