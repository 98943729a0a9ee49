//! The runner's per-frame step times (`BERTH_STEP_TRACE`, `runner/python/berth/steps.py`), read
//! back after a session stops and keyed by the frame's timestamp, so a bench can line them up
//! with its own times and with the other runners of a chain.

use std::collections::HashMap;
use std::path::Path;

/// The environment variable that makes a runner trace its steps into a folder.
pub const ENV: &str = "BERTH_STEP_TRACE";

/// The columns of a trace's rows (`FIELDS` in `steps.py`).
const FIELDS: [&str; 7] = [
    "timestamp",
    "found",
    "called",
    "returned",
    "done",
    "cpu",
    "how",
];

/// One frame's steps in one runner (ns, `CLOCK_MONOTONIC`), and the CPU it finished on.
#[derive(Clone, Copy, Debug)]
pub struct Steps {
    /// The runner took the frame from its input.
    pub found: u64,
    /// `process()` was called.
    pub called: u64,
    /// `process()` returned.
    pub returned: u64,
    /// Outputs sent, the input given back.
    pub done: u64,
    /// The CPU the runner was on when done (-1 when not recorded).
    pub cpu: i64,
    /// How the runner came to the frame.
    pub how: Found,
}

/// How a runner came to a frame (`FOUND_*` in `steps.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// It was polling, or its input held more frames.
    Polling,
    /// The frame came during its sleep until just before the frame was due.
    WokenAhead,
    /// The frame's ring ended a sleep (the input not steady, or the frame past the window).
    Woken,
}

impl Found {
    /// Its name in reports: `polling`, `woken_ahead`, `woken`.
    pub fn label(self) -> &'static str {
        match self {
            Found::Polling => "polling",
            Found::WokenAhead => "woken_ahead",
            Found::Woken => "woken",
        }
    }

    fn from_code(code: i64) -> Self {
        match code {
            0 => Found::Polling,
            1 => Found::WokenAhead,
            2 => Found::Woken,
            _ => panic!("a step trace with an unknown `how`: {code}"),
        }
    }
}

/// Every trace in `folder`, by node id, each by frame timestamp; panics on a file that is not
/// a step trace of this runner version, or on two traces of one node (a bench's own folder
/// holds nothing else).
pub fn read(folder: &Path) -> HashMap<String, HashMap<u64, Steps>> {
    let mut traces = HashMap::new();
    for entry in std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("reading the trace folder {}: {e}", folder.display()))
        .flatten()
    {
        if !entry.file_name().to_string_lossy().starts_with("steps-") {
            continue;
        }
        let body: serde_json::Value =
            serde_json::from_slice(&std::fs::read(entry.path()).expect("read a step trace"))
                .expect("a step trace is JSON");
        let node = body["node_id"].as_str().expect("node_id").to_owned();
        assert_eq!(
            body["fields"],
            serde_json::json!(FIELDS),
            "{}: a step trace of another runner version (rebuild the image)",
            entry.path().display()
        );
        let frames = body["frames"]
            .as_array()
            .expect("frames")
            .iter()
            .map(|row| {
                let v = |i: usize| row[i].as_i64().expect("a number");
                let at = |i: usize| v(i) as u64;
                (
                    at(0),
                    Steps {
                        found: at(1),
                        called: at(2),
                        returned: at(3),
                        done: at(4),
                        cpu: v(5),
                        how: Found::from_code(v(6)),
                    },
                )
            })
            .collect();
        let earlier = traces.insert(node.clone(), frames);
        assert!(
            earlier.is_none(),
            "two step traces of `{node}` in {}: was its runner restarted?",
            folder.display()
        );
    }
    traces
}
