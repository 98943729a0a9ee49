//! SHA-256 helpers for definition hashes.

use sha2::{Digest, Sha256};

/// Lowercase hex SHA-256 of the given parts, each length-prefixed so that
/// `["ab", "c"]` and `["a", "bc"]` differ.
pub(crate) fn sha256_parts<I, P>(parts: I) -> String
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    let mut hasher = Sha256::new();
    for part in parts {
        let part = part.as_ref();
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    format!("{:x}", hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_length_prefixed() {
        assert_ne!(sha256_parts(["ab", "c"]), sha256_parts(["a", "bc"]));
        assert_eq!(sha256_parts(["x"]).len(), 64);
    }
}
