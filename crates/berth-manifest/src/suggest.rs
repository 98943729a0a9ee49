//! "Did you mean" suggestions by edit distance.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub(crate) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance with adjacent transpositions counted as one edit (optimal string
/// alignment).
fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_field() {
        assert_eq!(
            closest("memroy_mb", ["memory_mb", "cpu_cores"]),
            Some("memory_mb")
        );
        assert_eq!(
            closest("node_typ", ["id", "node_type", "params"]),
            Some("node_type")
        );
        assert_eq!(closest("banana", ["memory_mb", "cpu_cores"]), None);
        assert_eq!(distance("memroy", "memory"), 1, "a swap is one edit");
    }
}
