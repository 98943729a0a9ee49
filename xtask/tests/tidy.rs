//! Repository rules, checked by `cargo test` rather than remembered.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn files(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !matches!(
                name.as_str(),
                "target" | ".git" | "__pycache__" | ".pytest_cache" | ".mypy_cache"
            ) {
                files(&path, ext, out);
            }
        } else if path
            .extension()
            .is_some_and(|e| ext.contains(&e.to_str().unwrap()))
        {
            out.push(path);
        }
    }
}

#[test]
fn iceoryx2_is_pinned_to_one_version_everywhere() {
    let version = read("iceoryx2-version.txt").trim().to_owned();
    assert!(
        read("Cargo.toml").contains(&format!("iceoryx2 = \"={version}\"")),
        "Cargo.toml pins iceoryx2 ={version}"
    );
    assert!(
        read("runner/python/pyproject.toml").contains(&format!("iceoryx2=={version}")),
        "runner/python/pyproject.toml pins iceoryx2=={version}"
    );
    assert!(
        read("plugins/berth-iceoryx2/src/lib.rs")
            .contains(&format!("ICEORYX2_VERSION: &str = \"{version}\"")),
        "berth-iceoryx2 states {version}"
    );
}

#[test]
fn python_versions_are_stated_once() {
    let versions: Vec<&str> = berth_manifest::python_versions()
        .iter()
        .map(|v| v.version)
        .collect();
    let pyproject = read("runner/python/pyproject.toml");
    assert!(
        pyproject.contains(&format!("requires-python = \">={}\"", versions[0])),
        "runner/python/pyproject.toml: requires-python = \">={}\" (python-versions.txt)",
        versions[0]
    );
    let classifier = "\"Programming Language :: Python :: 3.";
    let listed: Vec<&str> = pyproject
        .lines()
        .filter_map(|l| l.trim().strip_prefix(classifier))
        .map(|rest| rest.trim_end_matches(['"', ',']))
        .collect();
    let expected: Vec<String> = versions
        .iter()
        .map(|v| v.trim_start_matches("3.").to_owned())
        .collect();
    assert_eq!(
        listed, expected,
        "runner/python/pyproject.toml classifiers list the versions of python-versions.txt"
    );
    let mypy = pyproject
        .lines()
        .find_map(|l| l.strip_prefix("python_version = "))
        .expect("mypy's python_version")
        .trim_matches('"');
    assert!(
        versions.contains(&mypy),
        "mypy checks {mypy}, not in python-versions.txt"
    );
    let readme = read("README.md");
    let quoted: Vec<String> = versions.iter().map(|v| format!("\"{v}\"")).collect();
    assert!(
        readme.contains(&quoted.join(" | ")),
        "README.md's manifest reference lists {}",
        quoted.join(" | ")
    );
    let schema = berth_manifest::json_schema().to_string();
    for v in &versions {
        assert!(
            schema.contains(&format!("\"{v}\"")),
            "the JSON Schema offers {v}"
        );
    }
}

#[test]
fn no_unfinished_markers_in_sources() {
    let mut sources = Vec::new();
    for dir in [
        "crates",
        "plugins",
        "xtask/src",
        "runner/python/berth",
        "benches",
        "tests",
    ] {
        let dir = root().join(dir);
        if dir.exists() {
            files(&dir, &["rs", "py"], &mut sources);
        }
    }
    assert!(!sources.is_empty());
    let markers = [
        concat!("TO", "DO"),
        concat!("FIX", "ME"),
        concat!("XX", "X:"),
        "todo!(",
        "unimplemented!(",
    ];
    for file in sources {
        let text = std::fs::read_to_string(&file).unwrap();
        for marker in markers {
            assert!(
                !text.contains(marker),
                "{} contains `{marker}`",
                file.display()
            );
        }
    }
}

#[test]
fn every_crate_says_what_it_owns() {
    for dir in ["crates", "plugins"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap().flatten() {
            let lib = entry.path().join("src/lib.rs");
            let main = entry.path().join("src/main.rs");
            let file = if lib.exists() { lib } else { main };
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            assert!(
                text.starts_with("//!"),
                "{} starts with a `//!` summary",
                file.display()
            );
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                read("ARCHITECTURE.md").contains(&format!("`{name}`")),
                "ARCHITECTURE.md describes `{name}`"
            );
        }
    }
}

/// Each crate's normal dependencies, from `cargo metadata`.
fn dependencies() -> std::collections::BTreeMap<String, Vec<String>> {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["kind"].is_null())
                .map(|d| d["name"].as_str().unwrap().to_owned())
                .collect();
            (p["name"].as_str().unwrap().to_owned(), deps)
        })
        .collect()
}

/// What each layer must not depend on (ARCHITECTURE.md's invariants, checked).
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "berth-manifest",
        &[
            "bollard",
            "iceoryx2",
            "tokio",
            "berth-transport",
            "berth-backend",
            "berth-images",
        ],
    ),
    (
        "berth-transport",
        &[
            "iceoryx2",
            "bollard",
            "tokio",
            "berth-manifest",
            "berth-backend",
        ],
    ),
    (
        "berth-backend",
        &["iceoryx2", "bollard", "berth-transport", "berth-manifest"],
    ),
    (
        "berth-resources",
        &[
            "iceoryx2",
            "bollard",
            "tokio",
            "berth-transport",
            "berth-backend",
            "berth-manifest",
        ],
    ),
    (
        "berth-images",
        &[
            "iceoryx2",
            "berth-transport",
            "berth-backend",
            "berth-iceoryx2",
        ],
    ),
    (
        "berth-docker",
        &["iceoryx2", "berth-transport", "berth-manifest"],
    ),
    (
        "berth-process",
        &["iceoryx2", "bollard", "berth-transport", "berth-manifest"],
    ),
    (
        "berth-iceoryx2",
        &["bollard", "berth-backend", "berth-manifest"],
    ),
    (
        "berth-cache",
        &[
            "bollard",
            "iceoryx2",
            "berth-transport",
            "berth-backend",
            "berth-manifest",
            "berth-images",
        ],
    ),
    (
        "berth-registry",
        &[
            "berth-backend",
            "berth-transport",
            "berth-manifest",
            "tokio",
            "bollard",
            "iceoryx2",
        ],
    ),
];

/// `berth` without its `docker` feature links no Docker code: a library user can leave it out.
#[test]
fn berth_without_docker_links_no_docker_code() {
    let out = std::process::Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "berth",
            "--no-default-features",
            "--features",
            "process,iceoryx2",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("berth-iceoryx2 "), "{tree}");
    for docker_only in ["bollard ", "berth-docker ", "berth-images ", "tar "] {
        assert!(
            !tree.lines().any(|l| l.starts_with(docker_only)),
            "berth --no-default-features --features process,iceoryx2 links {docker_only}"
        );
    }
}

#[test]
fn each_crate_keeps_to_its_layer() {
    let dependencies = dependencies();
    let mut broken = Vec::new();
    for (krate, forbidden) in FORBIDDEN {
        let deps = dependencies
            .get(*krate)
            .unwrap_or_else(|| panic!("no crate {krate} in the workspace"));
        for dep in deps.iter().filter(|d| forbidden.contains(&d.as_str())) {
            broken.push(format!("{krate} depends on {dep}"));
        }
    }
    assert!(
        broken.is_empty(),
        "layering broken (see ARCHITECTURE.md): {}",
        broken.join("; ")
    );
}

/// iceoryx2's paths and runner-spec keys belong to its plugin (and the runner's Python side of
/// it); everything else asks the transport (`runner_spec`, `shared_paths`).
#[test]
fn no_iceoryx2_path_or_key_outside_its_plugin() {
    let mut sources = Vec::new();
    for dir in [
        "crates",
        "plugins/berth-docker/src",
        "plugins/berth-process/src",
    ] {
        files(&root().join(dir), &["rs"], &mut sources);
    }
    let mut found = Vec::new();
    for path in sources {
        let relative = path.strip_prefix(root()).unwrap().display().to_string();
        // Tests look for leftovers where iceoryx2 keeps them; sources may not name them.
        if relative.contains("/tests/") || relative.contains("/benches/") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for needle in ["\"/dev/shm/iceoryx2", "iceoryx2_prefix", "iceoryx2_root"] {
            for (n, line) in text.lines().enumerate() {
                if line.contains(needle) {
                    found.push(format!("{relative}:{}: {}", n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "iceoryx2 details outside its plugin:\n{}",
        found.join("\n")
    );
}

/// The top-level modules of the crate at `src` and which others each one uses (`crate::m`,
/// `use crate::{m, …}`, or a name the crate root re-exports from `m`); tests excluded.
fn module_graph(
    src: &Path,
) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut sources = Vec::new();
    files(src, &["rs"], &mut sources);
    let module_of = |file: &Path| -> Option<String> {
        let relative = file.strip_prefix(src).ok()?;
        let first = relative.components().next()?.as_os_str().to_str()?;
        let name = first.strip_suffix(".rs").unwrap_or(first);
        (!matches!(name, "lib" | "main")).then(|| name.to_owned())
    };
    let modules: BTreeSet<String> = sources.iter().filter_map(|f| module_of(f)).collect();
    // Names the root re-exports, and the module each comes from: `pub use m::{A, B};`.
    let root_text = std::fs::read_to_string(src.join("lib.rs")).unwrap_or_default();
    let mut reexported = BTreeMap::new();
    // Whole `pub use` items, however many lines each spans.
    let items = root_text.split("pub use ").skip(1).map(|rest| {
        let item = &rest[..rest.find(';').unwrap_or(rest.len())];
        item.split_whitespace().collect::<String>()
    });
    for item in items {
        let Some((module, names)) = item.split_once("::") else {
            continue;
        };
        if modules.contains(module) {
            for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
                let name = name.trim().rsplit("::").next().unwrap_or("").trim();
                if !name.is_empty() {
                    reexported.insert(name.to_owned(), module.to_owned());
                }
            }
        }
    }
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &sources {
        let Some(me) = module_of(file) else { continue };
        let text = std::fs::read_to_string(file).unwrap();
        // Code only: not the tests, not comments (a doc link is not a dependency).
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let mut used = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let after = &code[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                used.extend(group.split(',').map(|item| ident(item.trim())));
            } else {
                used.push(ident(after));
            }
        }
        let edges = graph.entry(me.clone()).or_default();
        for name in used {
            let target = if modules.contains(&name) {
                Some(name)
            } else {
                reexported.get(&name).cloned()
            };
            if let Some(target) = target.filter(|t| *t != me) {
                edges.insert(target);
            }
        }
    }
    graph
}

/// A cycle in `graph`, as `a → b → a`, if there is one.
fn find_cycle(
    graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
) -> Option<String> {
    fn visit<'a>(
        node: &'a str,
        graph: &'a std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut std::collections::BTreeSet<&'a str>,
    ) -> Option<String> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node);
            return Some(cycle.join(" → "));
        }
        if !done.insert(node) {
            return None;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    let mut done = std::collections::BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

/// Modules of one crate depend on each other in one direction only: a cycle means two modules
/// are one job, or a third one is hiding in them.
#[test]
fn no_import_cycles_between_the_modules_of_a_crate() {
    let mut cycles = Vec::new();
    for dir in ["crates", "plugins"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap().flatten() {
            let graph = module_graph(&entry.path().join("src"));
            if let Some(cycle) = find_cycle(&graph) {
                cycles.push(format!("{}: {cycle}", entry.file_name().to_string_lossy()));
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles: {}", cycles.join("; "));
}

#[test]
fn the_cycle_check_sees_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::write(
        src.join("lib.rs"),
        "mod a;\nmod b;\npub use b::{\n    Other,\n    Thing,\n};\n",
    )
    .unwrap();
    std::fs::write(src.join("a.rs"), "use crate::Thing;\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "pub struct Thing;\nfn f() { crate::a::g() }\n",
    )
    .unwrap();
    assert_eq!(find_cycle(&module_graph(src)).as_deref(), Some("a → b → a"));
    std::fs::write(
        src.join("b.rs"),
        "pub struct Thing;\n#[cfg(test)]\nuse crate::a;\n",
    )
    .unwrap();
    assert_eq!(find_cycle(&module_graph(src)), None);
}
