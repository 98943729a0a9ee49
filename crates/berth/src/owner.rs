//! Who owns a session, in a form that outlives a crash. While a session lives its host holds
//! an exclusive lock on `<cache>/sessions/<id>.owner`; every node watches that lock (containers
//! get the file mounted read-only) and stops by itself when it comes free, because the kernel
//! frees a dead process's locks, SIGKILL included. The file lists the backends the session
//! used. A later start sweeps each session whose lock it can take: its owner is gone, so its
//! containers, processes and iceoryx2 files go too. A live owner's lock cannot be taken, so its
//! resources are never touched.

use std::fs::{File, TryLockError};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use berth_backend::backend_by_name;
use berth_transport::{SessionId, Transport};

use crate::SessionError;
use crate::status::sessions_dir;

/// The held owner lock of one session. Dropping it lets go of the lock but keeps the file, so
/// a sweep cleans up after the session; [`OwnerLock::release`] after a clean stop removes it.
pub(crate) struct OwnerLock {
    path: PathBuf,
    file: File,
    backends: Vec<&'static str>,
}

impl OwnerLock {
    /// Creates and locks the session's owner file. It is locked under a temporary name and
    /// then renamed, so a sweeper never sees an owner file that is not yet locked.
    pub(crate) fn acquire(session: &SessionId) -> Result<Self, SessionError> {
        static STAGING: AtomicU64 = AtomicU64::new(0);
        let dir = sessions_dir();
        let failed = |source: std::io::Error| SessionError::Cache {
            what: "the session's owner file",
            path: dir.clone(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        let path = dir.join(format!("{session}.owner"));
        let staging = dir.join(format!(
            ".{session}.{}.{}",
            std::process::id(),
            STAGING.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::create(&staging).map_err(failed)?;
        let locked = file
            .try_lock()
            .map_err(|e| failed(e.into()))
            .and_then(|()| std::fs::rename(&staging, &path).map_err(failed));
        if let Err(e) = locked {
            let _ = std::fs::remove_file(&staging);
            return Err(e);
        }
        Ok(OwnerLock {
            path,
            file,
            backends: Vec::new(),
        })
    }

    /// The owner file, for nodes to watch.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Notes in the file that the session runs nodes on `backend`, for a sweep to know whom
    /// to ask.
    pub(crate) fn record_backend(&mut self, backend: &'static str) {
        if self.backends.contains(&backend) {
            return;
        }
        self.backends.push(backend);
        let text = self.backends.join("\n") + "\n";
        let written = self
            .file
            .set_len(0)
            .and_then(|()| (&self.file).write_all(text.as_bytes()));
        if let Err(e) = written {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot record a backend in the owner file");
        }
    }

    /// Ends the ownership after a clean stop: nothing is left to sweep.
    pub(crate) fn release(self) {
        if let Some(id) = self.id() {
            crate::status::remove(id);
        }
        let _ = std::fs::remove_file(&self.path);
    }

    /// The session id the file is named after.
    fn id(&self) -> Option<&str> {
        self.path.file_name()?.to_str()?.strip_suffix(".owner")
    }
}

/// Removes what every session whose owner died left behind: containers, processes,
/// iceoryx2 files and segments. Returns the sessions swept. Runs once per process at the first
/// session start; call it yourself to sweep at another time (e.g. in a long-lived service).
pub async fn sweep_orphans() -> Vec<SessionId> {
    let dead = dead_sessions();
    if dead.is_empty() {
        return Vec::new();
    }
    crate::recommended::link();
    let transport: Option<std::sync::Arc<dyn Transport>> = crate::recommended::transport().ok();
    let mut swept = Vec::new();
    for dead in dead {
        let span = tracing::info_span!("sweep", session_id = %dead.id);
        let _enter = span.enter();
        let mut complete = true;
        for name in &dead.backends {
            let swept = match backend_by_name(name) {
                Ok(backend) => match backend.check().await {
                    Ok(()) => backend.sweep_session(dead.id.as_str()).await.map(drop),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = swept {
                // The file stays: a later sweep tries again (the daemon may come back).
                tracing::warn!(backend = %name, error = %e, "could not sweep a dead session");
                complete = false;
            }
        }
        match &transport {
            Some(t) => {
                if let Err(e) = t.sweep_session(&dead.id) {
                    tracing::warn!(error = %e, "could not sweep a dead session's channels");
                    complete = false;
                }
            }
            None => complete = false,
        }
        if complete {
            crate::status::remove(dead.id.as_str());
            let _ = std::fs::remove_file(&dead.path);
        }
        tracing::info!(
            complete,
            "swept the leftovers of a session whose owner died"
        );
        swept.push(dead.id);
    }
    swept
}

/// A session whose owner lock could be taken, with the lock held.
struct Dead {
    id: SessionId,
    path: PathBuf,
    backends: Vec<String>,
    _lock: File,
}

/// Sessions whose owner lock can be taken: their owner died.
fn dead_sessions() -> Vec<Dead> {
    let Ok(entries) = std::fs::read_dir(sessions_dir()) else {
        return Vec::new();
    };
    let mut dead = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".owner"))
            .and_then(|n| SessionId::new(n).ok())
        else {
            continue;
        };
        let Ok(file) = File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => continue, // its owner (or a stopping node) is alive
            Err(TryLockError::Error(e)) => {
                tracing::debug!(path = %path.display(), error = %e, "cannot test an owner lock");
                continue;
            }
        }
        // The file at `path` must still be the one locked (not replaced by a new session).
        let same = match (file.metadata(), std::fs::metadata(&path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if !same {
            continue;
        }
        // Dead: out of `berth ps` at once, before the (maybe slow) sweep.
        crate::status::remove(id.as_str());
        let backends = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .filter(|l| !l.is_empty())
            .collect();
        dead.push(Dead {
            id,
            path,
            backends,
            _lock: file,
        });
    }
    dead
}
