//! The Python versions a container node may ask for, read from `python-versions.txt` at the
//! workspace root — the one place they are stated.

use std::sync::LazyLock;

/// The table, as written in `python-versions.txt`.
const TABLE: &str = include_str!("../../../python-versions.txt");

/// How the standard image of a Python version is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PythonSource {
    /// From a Debian suite's own Python: buildable without a registry.
    Debian {
        /// The suite, e.g. `bookworm`.
        suite: &'static str,
        /// The suite's glibc `(major, minor)`, which decides the wheels its image can load.
        glibc: (u32, u32),
    },
    /// Only `FROM python:<version>-slim`: no Debian suite carries this version.
    Registry,
}

/// One supported Python version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PythonVersion {
    /// `MAJOR.MINOR`, e.g. `3.11`.
    pub version: &'static str,
    /// How its standard image is made.
    pub source: PythonSource,
}

impl PythonVersion {
    /// Whether its standard image can be built without a registry.
    pub fn offline(&self) -> bool {
        matches!(self.source, PythonSource::Debian { .. })
    }
}

/// Every supported Python version, oldest first.
pub fn python_versions() -> &'static [PythonVersion] {
    static VERSIONS: LazyLock<Vec<PythonVersion>> =
        LazyLock::new(|| parse(TABLE).unwrap_or_else(|e| panic!("python-versions.txt: {e}")));
    &VERSIONS
}

/// The entry for `version`, if supported.
pub fn python_version(version: &str) -> Option<&'static PythonVersion> {
    python_versions().iter().find(|v| v.version == version)
}

/// The supported versions as a list for messages: `3.9, 3.10, 3.11`.
pub fn python_version_list() -> String {
    python_versions()
        .iter()
        .map(|v| v.version)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses the table: one version a line, `#` comments.
fn parse(text: &'static str) -> Result<Vec<PythonVersion>, String> {
    let mut out: Vec<PythonVersion> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: `{line}`", n + 1);
        let words: Vec<&'static str> = line.split_whitespace().collect();
        let source = match words[1..] {
            ["registry"] => PythonSource::Registry,
            ["debian", suite, glibc] => {
                let (major, minor) = glibc
                    .split_once('.')
                    .ok_or_else(|| bad("glibc is MAJOR.MINOR"))?;
                let glibc = (
                    major.parse().map_err(|_| bad("glibc is MAJOR.MINOR"))?,
                    minor.parse().map_err(|_| bad("glibc is MAJOR.MINOR"))?,
                );
                PythonSource::Debian { suite, glibc }
            }
            _ => {
                return Err(bad(
                    "expected `<version> registry` or `<version> debian <suite> <glibc>`",
                ));
            }
        };
        let version = words[0];
        if !version
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            || version.split('.').count() != 2
        {
            return Err(bad("the version is MAJOR.MINOR"));
        }
        if out.iter().any(|v| v.version == version) {
            return Err(bad("the version is listed twice"));
        }
        out.push(PythonVersion { version, source });
    }
    if out.is_empty() {
        return Err("no version listed".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_parses_and_has_an_offline_version() {
        let versions = python_versions();
        assert!(versions.iter().any(PythonVersion::offline));
        assert_eq!(
            python_version("3.11").map(|v| v.source),
            Some(PythonSource::Debian {
                suite: "bookworm",
                glibc: (2, 36)
            })
        );
        assert_eq!(python_version("2.7"), None);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        for bad in [
            "3.11 debian bookworm\n",
            "3.11 debian bookworm 2\n",
            "3.x registry\n",
            "3.11 somewhere\n",
            "3.11 registry\n3.11 registry\n",
            "# nothing\n",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let e = parse("\n3.11 nowhere\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
