//! What a running session tells other processes about itself, for `berth ps` and `berth logs`
//! in a second terminal: `<cache>/sessions/<id>.json` beside the session's owner file, written
//! whole (to a temporary name, then renamed, by a thread of its own so that no frame waits for
//! the disk) when the session starts (before `start` returns), when a node goes down or comes
//! back, and about once a second while the session's owner sends or receives frames
//! (an idle session's file keeps its last figures: `written_unix_ms` says how old they are);
//! removed with the owner file, and by the sweep as soon as it finds the owner dead. Each node's
//! entry carries a [`SavedSampler`], so the reader measures the node itself. A status whose
//! owner lock is free belongs to a session that died; [`running_sessions`] leaves it out.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{OnceLock, mpsc};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use berth_resources::SavedSampler;
use serde::{Deserialize, Serialize};

use crate::RunnerStats;

/// Where the sessions' owner files and status files live.
pub(crate) fn sessions_dir() -> PathBuf {
    berth_cache::default_cache_dir().join("sessions")
}

/// A running session as it describes itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionStatus {
    /// The session.
    pub session_id: String,
    /// The manifest's `metadata.name`.
    pub pipeline: String,
    /// The process that runs the session.
    pub host_pid: u32,
    /// When it started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// When this status was written, in milliseconds since the Unix epoch.
    pub written_unix_ms: u64,
    /// Its nodes, upstream first.
    pub nodes: Vec<NodeStatus>,
}

/// One node of a running session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub node_id: String,
    /// What runs it: `docker`, `process` or `native`.
    pub backend: String,
    /// Its container id, `pid N`, or the host thread.
    pub id: String,
    /// The image of a container node.
    pub image: Option<String>,
    /// Whether it runs in a container shared with other sessions.
    pub shared: bool,
    /// Whether it runs.
    pub state: NodeState,
    /// Times it was restarted.
    pub restarts: u64,
    /// When its current runner started, in milliseconds since the Unix epoch.
    pub started_unix_ms: u64,
    /// How to measure it from another process.
    pub sampler: Option<SavedSampler>,
    /// Its runner's latest own report (frames, `process()` times, its thread's CPU time).
    pub runner: Option<RunnerStats>,
    /// The file its output goes to, for a node whose backend keeps no logs (host processes).
    pub log_file: Option<PathBuf>,
}

/// Whether a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeState {
    /// Ready and serving.
    Running,
    /// Its runner died; a restart is under way.
    Restarting,
    /// Its runner died and no restart is left.
    Down,
}

impl NodeState {
    /// The word `berth ps` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Running => "running",
            NodeState::Restarting => "restarting",
            NodeState::Down => "down",
        }
    }
}

/// Milliseconds since the Unix epoch of `time`.
pub(crate) fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// How long ago `unix_ms` was.
pub fn age(unix_ms: u64) -> Duration {
    let then = UNIX_EPOCH + Duration::from_millis(unix_ms);
    SystemTime::now().duration_since(then).unwrap_or_default()
}

/// The status file of session `id`.
pub(crate) fn status_path(id: &str) -> PathBuf {
    sessions_dir().join(format!("{id}.json"))
}

/// The folder of the log files of session `id`'s host-process nodes.
pub(crate) fn logs_dir(id: &str) -> PathBuf {
    sessions_dir().join(format!("{id}.logs"))
}

/// Writes `status` whole: readers see the old file or the new one, never a part. A failure
/// is only logged: the status is for other processes to look at, not for the session.
fn write(status: &SessionStatus) {
    let path = status_path(&status.session_id);
    let staging = path.with_extension("json.new");
    let written = serde_json::to_vec(status)
        .map_err(std::io::Error::other)
        .and_then(|text| std::fs::write(&staging, text))
        .and_then(|()| std::fs::rename(&staging, &path));
    if let Err(e) = written {
        tracing::debug!(session_id = %status.session_id, error = %e, "cannot write the session's status file");
    }
}

/// What the writer thread is asked to do, in order.
enum Job {
    Write(SessionStatus),
    /// Answer once every write asked for before is done.
    Flush(mpsc::SyncSender<()>),
}

/// The process's status writer: a thread of its own, so that a session sending or receiving
/// frames never waits for the disk (a write and rename took 0.5–0.9 ms here, and up to 9 ms).
/// `None` when the thread could not be started; writes are then made in place.
fn writer() -> Option<&'static mpsc::Sender<Job>> {
    static WRITER: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    WRITER
        .get_or_init(|| {
            let (jobs, queue) = mpsc::channel();
            std::thread::Builder::new()
                .name("berth-status".into())
                .spawn(move || write_queued(queue))
                .map_err(
                    |e| tracing::warn!(error = %e, "no status writer thread; writing in place"),
                )
                .ok()
                .map(|_| jobs)
        })
        .as_ref()
}

/// The writer thread: takes what is queued, keeps each session's latest status, writes those,
/// then answers the flushes.
fn write_queued(queue: mpsc::Receiver<Job>) {
    let mut latest: Vec<SessionStatus> = Vec::new();
    let mut flushed = Vec::new();
    while let Ok(first) = queue.recv() {
        for job in std::iter::once(first).chain(queue.try_iter()) {
            match job {
                Job::Write(status) => {
                    latest.retain(|s| s.session_id != status.session_id);
                    latest.push(status);
                }
                Job::Flush(done) => flushed.push(done),
            }
        }
        for status in latest.drain(..) {
            write(&status);
        }
        for done in flushed.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Has `status` written whole soon, by the status writer (readers see the old file or the new
/// one, never a part); returns at once.
pub(crate) fn write_soon(status: SessionStatus) {
    match writer() {
        Some(jobs) => {
            let _ = jobs.send(Job::Write(status));
        }
        None => write(&status),
    }
}

/// Waits until every status asked for so far is on disk.
pub(crate) fn flush() {
    let Some(jobs) = writer() else { return };
    let (done, wait) = mpsc::sync_channel(1);
    if jobs.send(Job::Flush(done)).is_ok() {
        let _ = wait.recv();
    }
}

/// Removes what session `id` wrote for other processes, after any write of it still queued.
pub(crate) fn remove(id: &str) {
    flush();
    let path = status_path(id);
    let _ = std::fs::remove_file(path.with_extension("json.new"));
    let _ = std::fs::remove_file(path);
    let _ = std::fs::remove_dir_all(logs_dir(id));
}

/// Every session of this user that runs now (its owner holds its lock), oldest first.
pub fn running_sessions() -> Vec<SessionStatus> {
    running_sessions_in(&sessions_dir())
}

fn running_sessions_in(dir: &Path) -> Vec<SessionStatus> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sessions: Vec<SessionStatus> = entries
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| {
            let status: SessionStatus =
                serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok()?;
            let owner = dir.join(format!("{}.owner", status.session_id));
            owner_alive(&owner).then_some(status)
        })
        .collect();
    sessions.sort_by(|a, b| {
        (a.started_unix_ms, &a.session_id).cmp(&(b.started_unix_ms, &b.session_id))
    });
    sessions
}

/// Whether the owner of `id` (a session, a shared container or a runtime's network holder)
/// still holds its lock: what it labelled is in use, not left behind.
pub fn owner_running(id: &str) -> bool {
    owner_alive(&sessions_dir().join(format!("{id}.owner")))
}

/// Whether the owner lock at `path` is held: a shared lock cannot be taken while the owner
/// holds its exclusive one. (Taken, it is let go at once.)
fn owner_alive(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, started: u64) -> SessionStatus {
        SessionStatus {
            session_id: id.into(),
            pipeline: "p".into(),
            host_pid: std::process::id(),
            started_unix_ms: started,
            written_unix_ms: started,
            nodes: vec![NodeStatus {
                node_id: "n".into(),
                backend: "process".into(),
                id: "pid 1".into(),
                image: None,
                shared: false,
                state: NodeState::Running,
                restarts: 0,
                started_unix_ms: started,
                sampler: berth_resources::for_process(std::process::id())
                    .ok()
                    .map(SavedSampler::Process),
                runner: None,
                log_file: None,
            }],
        }
    }

    #[test]
    fn the_latest_queued_status_lands_and_a_removal_comes_after_every_write() {
        std::fs::create_dir_all(sessions_dir()).unwrap();
        let id = format!("status-writer-{}", std::process::id());
        for started in 1..=50 {
            write_soon(status(&id, started));
        }
        flush();
        let written: SessionStatus =
            serde_json::from_slice(&std::fs::read(status_path(&id)).unwrap()).unwrap();
        assert_eq!(written.started_unix_ms, 50, "the latest status is on disk");
        write_soon(status(&id, 51));
        remove(&id);
        assert!(
            !status_path(&id).exists() && !status_path(&id).with_extension("json.new").exists(),
            "a write queued before the removal did not bring the file back"
        );
    }

    #[test]
    fn only_sessions_whose_owner_holds_the_lock_are_running() {
        let dir = tempfile::tempdir().unwrap();
        let write_in = |s: &SessionStatus| {
            std::fs::write(
                dir.path().join(format!("{}.json", s.session_id)),
                serde_json::to_vec(s).unwrap(),
            )
            .unwrap();
        };
        let (alive, dead) = (status("alive", 2), status("dead", 1));
        write_in(&alive);
        write_in(&dead);
        let lock = File::create(dir.path().join("alive.owner")).unwrap();
        lock.lock().unwrap();
        File::create(dir.path().join("dead.owner")).unwrap();
        let running = running_sessions_in(dir.path());
        assert_eq!(running, vec![alive.clone()]);
        // A reader's test leaves the owner's lock alone.
        assert!(matches!(
            File::open(dir.path().join("alive.owner"))
                .unwrap()
                .try_lock(),
            Err(TryLockError::WouldBlock)
        ));
        drop(lock);
        assert!(running_sessions_in(dir.path()).is_empty());
    }

    #[test]
    fn an_owner_runs_while_it_holds_its_lock() {
        let id = berth_transport::SessionId::random();
        assert!(!owner_running(id.as_str()), "no owner file yet");
        let owner = crate::owner::OwnerLock::acquire(&id).unwrap();
        assert!(owner_running(id.as_str()));
        owner.release();
        assert!(!owner_running(id.as_str()), "released");
    }
}
