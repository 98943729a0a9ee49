//! The `/proc` sampler against a real host process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use berth_resources::conformance::{
    BUSY_SCRIPT, a_gone_node_reads_as_gone, measures_a_busy_allocating_node,
};

#[test]
fn a_host_process_is_measured_from_proc_and_reads_as_gone_after_it_ended() {
    let mut child = Command::new("python3")
        .args(["-c", BUSY_SCRIPT])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "ready");
    let sampler = berth_resources::for_process(child.id()).unwrap();
    measures_a_busy_allocating_node(&sampler);
    child.kill().unwrap();
    child.wait().unwrap();
    a_gone_node_reads_as_gone(&sampler);
}
