//! Reading a manifest: YAML to JSON values (serde-saphyr), values to types
//! (serde_path_to_error for the field path), then validation; every error located.

use std::path::Path;

use crate::error::{ManifestError, ManifestErrors, error};
use crate::locate::{Located, Step};
use crate::schema::Manifest;
use crate::suggest::closest;

impl Manifest {
    /// Parses and validates a manifest; `source` names it in error messages.
    pub fn from_yaml_str(text: &str, source: &str) -> Result<Manifest, ManifestErrors> {
        let located = Located::parse(text);
        let at = |path: &[Step]| located.as_ref().map(|l| l.find(path));
        let value: serde_json::Value = serde_saphyr::from_str(text).map_err(|e| {
            let location = e.location();
            ManifestErrors(vec![ManifestError {
                source: source.to_owned(),
                line: location.map(|l| l.line() as usize),
                column: location.map(|l| l.column() as usize),
                path: String::new(),
                message: format!("not valid YAML: {}", first_line(&e.to_string())),
                fix: "fix the YAML syntax at this place (indentation, quotes, `key: value` pairs)"
                    .into(),
            }])
        })?;
        if !value.is_object() {
            return Err(ManifestErrors(vec![ManifestError {
                source: source.to_owned(),
                line: Some(1),
                column: Some(1),
                path: String::new(),
                message:
                    "a manifest is a mapping with `version`, `metadata`, `nodes` and `connections`"
                        .into(),
                fix: "start from the example in the README's manifest reference".into(),
            }]));
        }
        let manifest: Manifest = serde_path_to_error::deserialize(value).map_err(|e| {
            let steps = steps_of(e.path());
            let (message, fix, key) = explain(&e.inner().to_string());
            let mut path = steps.clone();
            let pos = match key {
                Some(key) => {
                    if path.last() != Some(&Step::Key(key.clone())) {
                        path.push(Step::Key(key));
                    }
                    located.as_ref().and_then(|l| l.find_key_itself(&path))
                }
                None => located.as_ref().and_then(|l| l.find_key(&path)),
            }
            .or_else(|| at(&steps));
            ManifestErrors(vec![error(source, pos, &path, message, fix)])
        })?;
        let errors = crate::validate::validate(&manifest, source, &at);
        if errors.is_empty() {
            Ok(manifest)
        } else {
            Err(ManifestErrors(errors))
        }
    }

    /// Reads, parses and validates the manifest at `path`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Manifest, ManifestErrors> {
        let path = path.as_ref();
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ManifestErrors(vec![ManifestError {
                source: source.clone(),
                line: None,
                column: None,
                path: String::new(),
                message: format!("cannot read the manifest: {e}"),
                fix: "check the path and permissions".into(),
            }])
        })?;
        let mut manifest = Self::from_yaml_str(&text, &source)?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        manifest.base_dir = Some(dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
        Ok(manifest)
    }
}

fn steps_of(path: &serde_path_to_error::Path) -> Vec<Step> {
    path.iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(Step::Index(*index)),
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => Some(Step::Key(key.clone())),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect()
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Turns serde's message into ours: what is wrong, the fix, and the offending key if any.
fn explain(message: &str) -> (String, String, Option<String>) {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let field = rest.split('`').next().unwrap_or_default().to_owned();
        let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        let fix = match closest(&field, expected.iter().copied()) {
            Some(best) => format!(
                "did you mean `{best}`? (valid fields: {})",
                expected.join(", ")
            ),
            None => format!("remove it; valid fields here: {}", expected.join(", ")),
        };
        return (format!("unknown field `{field}`"), fix, Some(field));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or_default().to_owned();
        return (
            format!("missing field `{field}`"),
            format!("add `{field}: ...` here"),
            None,
        );
    }
    if message.starts_with("invalid type") || message.starts_with("invalid value") {
        return (
            message.to_owned(),
            "give the field a value of the expected type".into(),
            None,
        );
    }
    (
        message.to_owned(),
        "see the manifest reference in the README".into(),
        None,
    )
}
