//! Leak checks: every iceoryx2 prefix and session a bench used is remembered, and at the end
//! nothing of them may remain (no `/dev/shm` segment, no iceoryx2 file, no process, no
//! container). What remains is reported loudly and swept.

use std::sync::Mutex;

use berth_iceoryx2::Iceoryx2Transport;
use berth_transport::{SessionId, Transport};

static USED: Mutex<Vec<SessionId>> = Mutex::new(Vec::new());

/// Remembers that `session` (a Berth session or a raw iceoryx2 prefix) was used.
pub fn track(session: &SessionId) {
    USED.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(session.clone());
}

/// A fresh session id for raw iceoryx2 services, remembered for the final check.
pub fn raw_session() -> SessionId {
    let id = SessionId::random();
    track(&id);
    id
}

/// Pids of live (non-zombie) processes labelled `BERTH_SESSION_ID={session}`.
pub fn session_processes(session: &str) -> Vec<u32> {
    berth_resources::processes_with_env(&[("BERTH_SESSION_ID", session)])
}

/// Checks one session now: iceoryx2 files and segments, processes. Sweeps what it finds and
/// says so; returns what was found.
pub fn check(session: &SessionId) -> Vec<String> {
    let transport = Iceoryx2Transport::new();
    let mut found = transport.session_resources(session);
    if !found.is_empty() {
        let _ = transport.sweep_session(session);
    }
    found.extend(
        session_processes(session.as_str())
            .into_iter()
            .map(|pid| format!("process {pid}")),
    );
    found
}

/// Releases the prefix of a raw iceoryx2 session after its node and ports are gone: plain
/// iceoryx2 keeps one registry segment per prefix (`…_node….global_mgmt`) by design, which is
/// removed here (Berth's transport removes its own the same way). Returns anything else that
/// was still there (also swept): a real leak.
pub fn release_raw(session: &SessionId) -> Vec<String> {
    let transport = Iceoryx2Transport::new();
    let found = transport.session_resources(session);
    if found.is_empty() {
        return found;
    }
    let _ = transport.sweep_session(session);
    found
        .into_iter()
        .filter(|path| !path.ends_with(".global_mgmt"))
        .collect()
}

/// Checks every remembered session; prints what was left (and swept) and returns whether
/// everything was clean.
pub fn final_check() -> bool {
    let used = std::mem::take(&mut *USED.lock().unwrap_or_else(|p| p.into_inner()));
    let mut clean = true;
    for session in &used {
        let found = check(session);
        if !found.is_empty() {
            clean = false;
            eprintln!("LEAK: session {session} left {found:?} (iceoryx2 resources swept)");
        }
    }
    if clean {
        eprintln!(
            "leak check: {} sessions/prefixes used, nothing left behind",
            used.len()
        );
    }
    clean
}
