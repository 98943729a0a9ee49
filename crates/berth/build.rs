//! Embeds the Python runner's sources, so host-process nodes need no installed runner.

use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let package = manifest_dir.join("../../runner/python/berth");
    println!("cargo:rerun-if-changed={}", package.display());
    let mut files = Vec::new();
    collect(&package, &package, &mut files);
    files.sort();
    let mut out = String::from(
        "/// The runner's files: path relative to the `berth` package, contents.\npub(crate) const RUNNER_FILES: &[(&str, &str)] = &[\n",
    );
    for (relative, absolute) in files {
        println!("cargo:rerun-if-changed={}", absolute.display());
        out.push_str(&format!(
            "    ({relative:?}, include_str!({:?})),\n",
            absolute.canonicalize().unwrap()
        ));
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("runner_files.rs");
    std::fs::write(dest, out).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "__pycache__") {
                collect(root, &path, files);
            }
        } else if path
            .extension()
            .is_some_and(|e| e == "py" || e == "typed" || e == "json")
        {
            let relative = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            files.push((relative, path));
        }
    }
}
