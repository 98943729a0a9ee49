//! An unreachable Docker daemon fails a session within 2 s, naming the socket and the fix.
//! (Its own test binary: it sets `DOCKER_HOST` for the whole process.)

use std::time::{Duration, Instant};

use berth::{Session, SessionOptions};
use berth_tests::{pipeline, runtime};

#[test]
fn an_unreachable_daemon_fails_fast_and_says_where() {
    // SAFETY: this test binary has this one test; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("DOCKER_HOST", "unix:///tmp/berth-no-such-docker.sock") };
    let rt = runtime();
    let p = pipeline(
        "version: v1\nmetadata: { name: x }\nnodes:\n  - id: a\n    node_type: Echo\n    docker: { python_version: \"3.11\" }\nconnections:\n  - { from: mic, to: a }\n",
    );
    let started = Instant::now();
    let err = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .err()
        .expect("no daemon");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    let text = err.to_string();
    assert!(text.contains("/tmp/berth-no-such-docker.sock"), "{text}");
    assert!(text.contains("fix"), "{text}");
}
