//! Finding a session's runner processes through their environment labels in `/proc`.

use crate::{ENV_MANAGED_BY, ENV_SESSION};

/// Pids of live (not zombie) processes labelled with `session_id`.
pub(crate) fn session_pids(session_id: &str) -> Vec<i32> {
    let managed = format!("{ENV_MANAGED_BY}=berth");
    let session = format!("{ENV_SESSION}={session_id}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let mut vars = environ.split(|b| *b == 0);
            let labelled = vars.clone().any(|v| v == managed.as_bytes())
                && vars.any(|v| v == session.as_bytes());
            labelled && !is_zombie(*pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
