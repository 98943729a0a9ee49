//! The Python interpreter host-process nodes run under: the one the caller names
//! (`SessionOptions::python` or `BERTH_PYTHON`), checked; else a virtualenv Berth makes once,
//! holding the runner's pinned dependencies, under `<cache>/host-python/<hash16>`.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use tokio::process::Command;

use crate::SessionError;

/// What the runner needs besides itself (it is put on `PYTHONPATH` by the session).
fn requirements() -> [String; 2] {
    [
        format!("iceoryx2=={}", berth_cache::ICEORYX2_VERSION),
        "numpy".to_owned(),
    ]
}

/// Interpreters that passed [`check`] in this process: each is checked once, not at every
/// session start (the check imports numpy, a few hundred milliseconds).
static CHECKED: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Berth's own virtualenvs found ready in this process, by base interpreter and cache.
static MANAGED: Mutex<BTreeMap<(OsString, PathBuf), PathBuf>> = Mutex::new(BTreeMap::new());

/// Checks that `python` runs and can import what the runner needs (once per process for an
/// interpreter that passed).
pub async fn check(python: &Path) -> Result<(), SessionError> {
    if CHECKED.lock().expect("not poisoned").contains(python) {
        return Ok(());
    }
    check_now(python).await?;
    CHECKED
        .lock()
        .expect("not poisoned")
        .insert(python.to_owned());
    Ok(())
}

async fn check_now(python: &Path) -> Result<(), SessionError> {
    let script = "import importlib.metadata as md, sys\n\
                  missing = []\n\
                  for name in ('iceoryx2', 'numpy'):\n\
                  \x20   try:\n\
                  \x20       __import__(name)\n\
                  \x20   except Exception as e:\n\
                  \x20       missing.append('%s (%s)' % (name, e))\n\
                  if not missing and md.version('iceoryx2') != sys.argv[1]:\n\
                  \x20   missing.append('iceoryx2 ' + sys.argv[1] + ' (it has ' + md.version('iceoryx2') + ')')\n\
                  print('; '.join(missing))\n";
    let output = Command::new(python)
        .args(["-c", script, berth_cache::ICEORYX2_VERSION])
        .output()
        .await
        .map_err(|e| SessionError::HostPython {
            python: python.display().to_string(),
            problem: format!("it cannot be started ({e})"),
        })?;
    let missing = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    if output.status.success() && missing.is_empty() {
        return Ok(());
    }
    let problem = if missing.is_empty() {
        String::from_utf8_lossy(&output.stderr).trim().to_owned()
    } else {
        format!("it lacks {missing}")
    };
    Err(SessionError::HostPython {
        python: python.display().to_string(),
        problem,
    })
}

/// The host Python for host-process nodes when a session names none: `$BERTH_PYTHON` when set,
/// else Berth's own virtualenv in the user's cache ([`managed`]).
pub async fn interpreter() -> Result<PathBuf, SessionError> {
    match std::env::var_os("BERTH_PYTHON").filter(|p| !p.is_empty()) {
        Some(named) => Ok(PathBuf::from(named)),
        None => managed(&berth_cache::default_cache_dir()).await,
    }
}

/// The interpreter of Berth's own host virtualenv under `cache_dir`, made on first use (a
/// minute at most: `python3 -m venv` and a pip install of the runner's dependencies).
pub async fn managed(cache_dir: &Path) -> Result<PathBuf, SessionError> {
    let base = std::env::var_os("BERTH_BASE_PYTHON").unwrap_or_else(|| "python3".into());
    let key = (base, cache_dir.to_owned());
    let known = MANAGED.lock().expect("not poisoned").get(&key).cloned();
    if let Some(python) = known.filter(|p| p.is_file()) {
        return Ok(python);
    }
    let python = make_managed(&key.0, cache_dir).await?;
    MANAGED
        .lock()
        .expect("not poisoned")
        .insert(key, python.clone());
    Ok(python)
}

async fn make_managed(base: &OsString, cache_dir: &Path) -> Result<PathBuf, SessionError> {
    let version = Command::new(base)
        .args(["-c", "import sys; print(sys.version)"])
        .output()
        .await
        .map_err(|e| {
            setup_failed(
                &PathBuf::from(base),
                format!("python3 cannot be started ({e})"),
            )
        })?;
    let mut hasher = Sha256::new();
    hasher.update(&version.stdout);
    for r in requirements() {
        hasher.update(r.as_bytes());
        hasher.update(b"\n");
    }
    let hex: String = hasher.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = cache_dir.join("host-python");
    let venv = root.join(&hex);
    let python = venv.join("bin/python");
    if venv.join(".berth-ready").is_file() {
        return Ok(python);
    }
    std::fs::create_dir_all(&root).map_err(|e| setup_failed(&root, e.to_string()))?;
    // One process makes it while others wait, then find it made.
    let _lock = berth_cache::cache_lock(
        cache_dir,
        &format!("host-python-{hex}.lock"),
        "the host Python environment",
        &berth_cache::Quiet,
    )
    .await
    .map_err(|e| setup_failed(&venv, e.to_string()))?;
    if venv.join(".berth-ready").is_file() {
        return Ok(python);
    }
    tracing::info!(venv = %venv.display(), "creating the host Python environment for host-process nodes (once)");
    let _ = std::fs::remove_dir_all(&venv);
    run(Command::new(base).args(["-m", "venv"]).arg(&venv), &venv).await?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(requirements()),
        &venv,
    )
    .await?;
    std::fs::write(venv.join(".berth-ready"), "")
        .map_err(|e| setup_failed(&venv, e.to_string()))?;
    Ok(python)
}

async fn run(command: &mut Command, venv: &Path) -> Result<(), SessionError> {
    let output = command
        .output()
        .await
        .map_err(|e| setup_failed(venv, e.to_string()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(setup_failed(
        venv,
        format!(
            "{:?} failed: {}",
            command.as_std(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    ))
}

fn setup_failed(path: &Path, problem: String) -> SessionError {
    SessionError::HostPython {
        python: path.display().to_string(),
        problem: format!("the host Python environment could not be made: {problem}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An "interpreter" that records each start and answers the check as one that has
    /// everything (`ok`) or as one that lacks numpy.
    fn fake_python(dir: &Path, ok: bool) -> PathBuf {
        let path = dir.join(if ok { "python-ok" } else { "python-lacking" });
        let log = dir.join("starts");
        let answer = if ok {
            ""
        } else {
            "echo 'numpy (No module named numpy)'"
        };
        let script = format!("#!/bin/sh\necho start >> '{}'\n{answer}\n", log.display());
        // Written by another process: a file this test process had open for writing could be
        // inherited by a concurrent test's fork and then fail to start ("text file busy").
        let status = std::process::Command::new("sh")
            .args([
                "-c",
                "printf '%s' \"$1\" > \"$2\" && chmod 755 \"$2\"",
                "sh",
            ])
            .arg(&script)
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    fn starts(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("starts"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn an_interpreter_that_passed_is_not_started_again() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), true);
        check(&python).await.expect("passes");
        check(&python).await.expect("passes again");
        assert_eq!(starts(dir.path()), 1, "the second check started it again");
    }

    #[tokio::test]
    async fn an_interpreter_that_failed_is_checked_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let python = fake_python(dir.path(), false);
        for _ in 0..2 {
            let err = check(&python).await.expect_err("it lacks numpy");
            assert!(err.to_string().contains("numpy"), "{err}");
        }
        assert_eq!(
            starts(dir.path()),
            2,
            "a failed check must not be remembered"
        );
    }
}
