//! Finding and removing the files and shared-memory segments of one session.

use std::path::Path;

use berth_transport::{SessionId, TransportError};
use iceoryx2::prelude::*;

/// Where Berth's iceoryx2 service and node files live: in `/dev/shm`, beside the segments.
pub(crate) const DEFAULT_ROOT: &str = "/dev/shm/iceoryx2";
pub(crate) const SHM_DIR: &str = "/dev/shm";

/// Whether `root` is inside `/dev/shm`: then binding and walking `/dev/shm` covers it.
pub(crate) fn in_shm(root: &Path) -> bool {
    root.starts_with(SHM_DIR)
}

/// The iceoryx2 prefix of a session; every resource of the session has it in its name.
pub fn session_prefix(session: &SessionId) -> String {
    format!("berth_{session}_")
}

/// The iceoryx2 configuration of a session.
pub(crate) fn session_config(root: &Path, session: &SessionId) -> Result<Config, TransportError> {
    let mut config = Config::default();
    let prefix = session_prefix(session);
    config.global.prefix =
        FileName::new(prefix.as_bytes()).map_err(|e| backend("set the prefix", session, e))?;
    let root_text = root.to_string_lossy();
    let root = iceoryx2::prelude::Path::new(root_text.as_bytes())
        .map_err(|e| backend("set the root path", session, e))?;
    config.global.set_root_path(&root);
    Ok(config)
}

/// Every file under `root` and every segment in `/dev/shm` whose name carries the session's prefix.
pub(crate) fn list(root: &Path, session: &SessionId) -> Vec<String> {
    let prefix = session_prefix(session);
    let mut found = Vec::new();
    collect(Path::new(SHM_DIR), &prefix, &mut found);
    if !in_shm(root) {
        collect(root, &prefix, &mut found);
    }
    found.sort();
    found
}

fn collect(dir: &Path, prefix: &str, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(prefix) {
            found.push(path.to_string_lossy().into_owned());
        } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect(&path, prefix, found);
        }
    }
}

/// Removes what a session left behind: first through iceoryx2's own dead-node cleanup, then
/// any file or segment that still carries the session's prefix. Returns how many were removed.
pub(crate) fn sweep(root: &Path, session: &SessionId) -> Result<usize, TransportError> {
    let leftovers = list(root, session);
    if leftovers.is_empty() {
        return Ok(0);
    }
    let config = session_config(root, session)?;
    let _ = Node::<ipc::Service>::list(&config, |state| {
        if let NodeState::Dead(view) = state
            && let Err(e) = view.try_remove_stale_resources()
        {
            tracing::debug!(%session, error = ?e, "iceoryx2 could not clean a dead node");
        }
        CallbackProgression::Continue
    });
    let mut removed = 0;
    for path in list(root, session) {
        let result = if Path::new(&path).is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match result {
            Ok(()) => removed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(backend(
                    "remove a leftover",
                    session,
                    format!("{path}: {e}"),
                ));
            }
        }
    }
    remove_empty_node_dirs(&root.join("nodes"), &leftovers);
    Ok(removed.max(leftovers.len() - list(root, session).len()))
}

/// Removes the per-node folders that held only the session's files.
fn remove_empty_node_dirs(nodes: &Path, removed: &[String]) {
    let parents: std::collections::BTreeSet<&Path> = removed
        .iter()
        .filter_map(|f| Path::new(f).parent())
        .filter(|p| p.parent() == Some(nodes))
        .collect();
    for dir in parents {
        // Fails (and is left alone) when the folder is not empty.
        let _ = std::fs::remove_dir(dir);
    }
}

fn backend(
    operation: &'static str,
    session: &SessionId,
    detail: impl std::fmt::Debug,
) -> TransportError {
    TransportError::Backend {
        transport: "iceoryx2",
        operation,
        channel: session.to_string(),
        detail: format!("{detail:?}"),
    }
}
