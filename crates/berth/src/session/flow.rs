//! Where a session's frames are, so that none is lost without being counted: the frames sent
//! into each host-fed node and not answered yet, and the frames dropped while a node is down.
//!
//! Nodes copy the timestamp of the input they answer to what they make of it, and answer in
//! order, so an output with timestamp `t` answers every frame sent before it on its path. Each
//! (host-fed node, pipeline output) pair keeps the frames not answered on that output yet — at
//! most what the queues and nodes along the path can hold, so nothing here allocates once the
//! queues have their capacity. When a node dies, the frames on their way through it become
//! suspects. Answers still come in order, so an answer stamped `t` on an output settles that
//! output's suspects: the one stamped `t` was not lost after all (a node downstream, or the
//! host's queue, had it already), and those stamped before `t` were. A node's restart is
//! reported once it is back and all its suspects are settled (by its first answers); what is
//! still unsettled when the session stops is lost.

use std::collections::{BTreeMap, VecDeque};

use crate::error::LostFrames;
use crate::plan::Plan;

/// One frame sent into a host-fed node.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Sent {
    input: usize,
    number: u64,
    timestamp_ns: u64,
}

/// Frames sent into one host-fed node and not answered yet on one pipeline output.
struct Path {
    output: usize,
    unanswered: VecDeque<Sent>,
    capacity: usize,
}

/// The session's graph and its frames in flight; node indexes are `plan.nodes` positions,
/// output indexes `plan.outputs` positions.
pub(super) struct Flow {
    /// Per node: itself and every node downstream of it.
    downstream: Vec<Vec<usize>>,
    /// Per node: itself and every host-fed node upstream of it.
    fed_from: Vec<Vec<usize>>,
    /// Per pipeline output: the node that writes it.
    output_node: Vec<usize>,
    /// Pipeline input name → its index.
    input_index: BTreeMap<String, usize>,
    /// Per pipeline input: the nodes its senders feed, in sender order.
    targets: Vec<Vec<usize>>,
    /// Per host-fed node: its paths to the pipeline outputs downstream of it.
    paths: Vec<Vec<Path>>,
    /// Per node that died: frames that were on their way through it (with the output that
    /// would have answered them).
    suspects: Vec<Vec<(usize, Sent)>>,
    /// Per node: whether its runner is down.
    down: Vec<bool>,
    /// Per node: frames dropped at the input since it went down.
    dropped: Vec<Vec<(usize, u64)>>,
    /// Per node: suspects found lost so far (input, number).
    found_lost: Vec<Vec<(usize, u64)>>,
    /// Per node: back up, its restart not reported yet.
    awaiting: Vec<bool>,
    /// Nodes whose restart can be reported now.
    resolved: Vec<usize>,
    /// Suspects of every node together (0 keeps `answered` cheap).
    suspect_count: usize,
    /// Pipeline input names, by index.
    input_names: Vec<String>,
    /// Per pipeline input: the next frame's number.
    next_number: Vec<u64>,
}

impl Flow {
    /// The flow of `plan`, for queues `queue_depth` deep.
    pub(super) fn new(plan: &Plan, queue_depth: usize) -> Self {
        let nodes = &plan.nodes;
        let count = nodes.len();
        // Edges i -> j where j reads i's output.
        let feeds: Vec<Vec<usize>> = (0..count)
            .map(|i| {
                (0..count)
                    .filter(|&j| nodes[j].reads.contains(&nodes[i].output))
                    .collect()
            })
            .collect();
        let reach = |start: usize, next: &dyn Fn(usize) -> Vec<usize>| {
            let mut seen = vec![start];
            let mut stack = vec![start];
            while let Some(n) = stack.pop() {
                for m in next(n) {
                    if !seen.contains(&m) {
                        seen.push(m);
                        stack.push(m);
                    }
                }
            }
            seen
        };
        let downstream: Vec<Vec<usize>> = (0..count)
            .map(|i| reach(i, &|n| feeds[n].clone()))
            .collect();
        let upstream = |n: usize| (0..count).filter(|&i| feeds[i].contains(&n)).collect();
        let fed_from: Vec<Vec<usize>> = (0..count)
            .map(|i| {
                reach(i, &upstream)
                    .into_iter()
                    .filter(|&n| nodes[n].input.is_some())
                    .collect()
            })
            .collect();
        let output_node: Vec<usize> = plan
            .outputs
            .iter()
            .map(|(node_id, _)| {
                nodes
                    .iter()
                    .position(|n| &n.spec.id == node_id)
                    .expect("every pipeline output is a node's")
            })
            .collect();
        // Each node on a path holds at most a queue of frames plus the one it works on.
        let paths = (0..count)
            .map(|h| {
                if nodes[h].input.is_none() {
                    return Vec::new();
                }
                output_node
                    .iter()
                    .enumerate()
                    .filter(|(_, node)| downstream[h].contains(node))
                    .map(|(output, _)| {
                        let capacity = (queue_depth + 1) * downstream[h].len();
                        Path {
                            output,
                            unanswered: VecDeque::with_capacity(capacity),
                            capacity,
                        }
                    })
                    .collect()
            })
            .collect();
        let input_names: Vec<String> = plan.inputs.keys().cloned().collect();
        let input_index = input_names
            .iter()
            .enumerate()
            .map(|(i, name)| (name.clone(), i))
            .collect();
        let targets = plan
            .inputs
            .values()
            .map(|channels| {
                channels
                    .iter()
                    .map(|c| {
                        nodes
                            .iter()
                            .position(|n| n.input.as_ref() == Some(c))
                            .expect("every input channel is a node's input")
                    })
                    .collect()
            })
            .collect();
        Self {
            downstream,
            fed_from,
            output_node,
            input_index,
            targets,
            paths,
            suspects: vec![Vec::new(); count],
            down: vec![false; count],
            dropped: vec![Vec::new(); count],
            found_lost: vec![Vec::new(); count],
            awaiting: vec![false; count],
            resolved: Vec::new(),
            suspect_count: 0,
            next_number: vec![0; input_names.len()],
            input_names,
        }
    }

    /// The index of pipeline input `name`.
    pub(super) fn input_index(&self, name: &str) -> Option<usize> {
        self.input_index.get(name).copied()
    }

    /// The node that sender `k` of pipeline input `input` feeds.
    pub(super) fn target(&self, input: usize, k: usize) -> usize {
        self.targets[input][k]
    }

    /// Takes the next frame number of input `input`.
    pub(super) fn number(&mut self, input: usize) -> u64 {
        let number = self.next_number[input];
        self.next_number[input] += 1;
        number
    }

    /// The first node that is down at or downstream of `node`: a frame sent into `node`
    /// would die there.
    pub(super) fn blocked_at(&self, node: usize) -> Option<usize> {
        self.downstream[node]
            .iter()
            .copied()
            .find(|&n| self.down[n])
    }

    /// A frame went into host-fed `node`.
    pub(super) fn sent(&mut self, node: usize, input: usize, number: u64, timestamp_ns: u64) {
        let sent = Sent {
            input,
            number,
            timestamp_ns,
        };
        for path in &mut self.paths[node] {
            if path.unanswered.len() == path.capacity {
                // Older than anything the path can still hold: it was taken (and answered,
                // or dropped by a node's own logic).
                path.unanswered.pop_front();
            }
            path.unanswered.push_back(sent);
        }
    }

    /// A frame was not sent because `down` (at or downstream of its target) is down.
    pub(super) fn dropped(&mut self, down: usize, input: usize, number: u64) {
        self.dropped[down].push((input, number));
    }

    /// Pipeline output `output` delivered a frame answering the input stamped `timestamp_ns`;
    /// returns how many suspects that shows were lost.
    pub(super) fn answered(&mut self, output: usize, timestamp_ns: u64) -> u64 {
        for &node in &self.fed_from[self.output_node[output]] {
            for path in self.paths[node].iter_mut().filter(|p| p.output == output) {
                while path
                    .unanswered
                    .front()
                    .is_some_and(|s| s.timestamp_ns <= timestamp_ns)
                {
                    path.unanswered.pop_front();
                }
            }
        }
        if self.suspect_count == 0 {
            return 0;
        }
        let mut lost = 0;
        for node in 0..self.suspects.len() {
            if self.suspects[node].is_empty() {
                continue;
            }
            let before = self.suspects[node].len();
            let found = &mut self.found_lost[node];
            self.suspects[node].retain(|(o, s)| {
                if *o != output || s.timestamp_ns > timestamp_ns {
                    return true;
                }
                // Equal: answered after all. Earlier: passed over, so it was lost.
                if s.timestamp_ns < timestamp_ns && !found.contains(&(s.input, s.number)) {
                    found.push((s.input, s.number));
                    lost += 1;
                }
                false
            });
            self.suspect_count -= before - self.suspects[node].len();
            self.check_resolved(node);
        }
        lost
    }

    /// `node`'s runner died: every unanswered frame whose path runs through it is a suspect.
    pub(super) fn went_down(&mut self, node: usize) {
        self.down[node] = true;
        self.awaiting[node] = false;
        for &fed in &self.fed_from[node] {
            for path in &mut self.paths[fed] {
                if !self.downstream[node].contains(&self.output_node[path.output]) {
                    continue; // another branch: its frames do not pass through `node`
                }
                let before = self.suspects[node].len();
                self.suspects[node].extend(path.unanswered.drain(..).map(|s| (path.output, s)));
                self.suspect_count += self.suspects[node].len() - before;
            }
        }
    }

    /// `node` is back; its restart is reported once its suspects are settled.
    pub(super) fn came_back(&mut self, node: usize) {
        self.down[node] = false;
        self.awaiting[node] = true;
        self.check_resolved(node);
    }

    fn check_resolved(&mut self, node: usize) {
        if self.awaiting[node] && self.suspects[node].is_empty() {
            self.awaiting[node] = false;
            self.resolved.push(node);
        }
    }

    /// A node that is back with every frame of its outage settled, and what it lost.
    pub(super) fn take_resolved(&mut self) -> Option<(usize, Vec<LostFrames>)> {
        let node = self.resolved.pop()?;
        let mut all = std::mem::take(&mut self.found_lost[node]);
        all.append(&mut self.dropped[node]);
        all.sort_unstable();
        all.dedup();
        let mut lost: Vec<LostFrames> = Vec::new();
        for (input, number) in all {
            let name = &self.input_names[input];
            match lost.last_mut() {
                Some(last) if &last.input == name && last.last + 1 == number => last.last = number,
                _ => lost.push(LostFrames {
                    input: name.clone(),
                    first: number,
                    last: number,
                }),
            }
        }
        Some((node, lost))
    }

    /// The session ends: every suspect still unsettled is lost; returns how many.
    pub(super) fn settle(&mut self) -> u64 {
        let mut lost = 0;
        for node in 0..self.suspects.len() {
            let found = &self.found_lost[node];
            let mut numbers: Vec<(usize, u64)> = self.suspects[node]
                .drain(..)
                .map(|(_, s)| (s.input, s.number))
                .filter(|n| !found.contains(n))
                .collect();
            numbers.sort_unstable();
            numbers.dedup();
            lost += numbers.len() as u64;
        }
        self.suspect_count = 0;
        lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_manifest::Manifest;
    use berth_transport::SessionId;

    fn chain() -> Plan {
        let manifest = Manifest::from_yaml_str(
            r#"
version: "v1"
metadata: { name: "chain" }
nodes:
  - { id: a, node_type: Gain }
  - { id: b, node_type: Gain }
connections:
  - { from: mic, to: a }
  - { from: a, to: b }
"#,
            "chain.yaml",
        )
        .unwrap();
        Plan::new(&manifest, SessionId::new("s1").unwrap()).unwrap()
    }

    fn send(flow: &mut Flow, frames: u64) {
        for _ in 0..frames {
            let n = flow.number(0);
            flow.sent(0, 0, n, (n + 1) * 10);
        }
    }

    #[test]
    fn a_death_downstream_loses_what_was_on_its_way_by_number() {
        let mut flow = Flow::new(&chain(), 4);
        assert_eq!(flow.input_index("mic"), Some(0));
        assert_eq!(flow.target(0, 0), 0, "mic feeds a");
        send(&mut flow, 5); // frames 0..=4
        assert_eq!(flow.answered(0, 20), 0); // b's output answered frames 0 and 1
        flow.went_down(1);
        assert_eq!(flow.blocked_at(0), Some(1), "a frame into a would die at b");
        let n = flow.number(0);
        flow.dropped(1, 0, n); // frame 5, counted by the caller
        flow.came_back(1);
        assert!(
            flow.take_resolved().is_none(),
            "frames 2..=4 are not settled yet"
        );
        send(&mut flow, 1); // frame 6, stamped 70
        assert_eq!(
            flow.answered(0, 70),
            3,
            "the first answer after the restart settles 2..=4"
        );
        let (node, lost) = flow.take_resolved().expect("settled");
        assert_eq!(node, 1);
        assert_eq!(
            lost,
            vec![LostFrames {
                input: "mic".into(),
                first: 2,
                last: 5
            }]
        );
        assert_eq!(lost[0].to_string(), "mic frames 2..=5");
        assert_eq!(flow.blocked_at(0), None);
    }

    #[test]
    fn a_frame_answered_after_its_upstream_died_is_taken_back() {
        let mut flow = Flow::new(&chain(), 4);
        send(&mut flow, 3); // frames 0, 1, 2; b still holds 1 and 2 when a dies
        flow.answered(0, 10);
        flow.went_down(0);
        assert_eq!(
            flow.answered(0, 20),
            0,
            "b delivers frame 1 after a's death"
        );
        flow.came_back(0);
        send(&mut flow, 1); // frame 3
        assert_eq!(flow.answered(0, 40), 1, "frame 2 was lost");
        let (_, lost) = flow.take_resolved().unwrap();
        assert_eq!((lost[0].first, lost[0].last), (2, 2));
    }

    #[test]
    fn a_path_keeps_at_most_what_its_queues_and_nodes_hold() {
        let mut flow = Flow::new(&chain(), 2);
        send(&mut flow, 10);
        flow.went_down(0);
        // Two nodes on the path, each a queue of 2 plus one in hand: the last 6 frames.
        assert_eq!(flow.settle(), 6);
    }

    #[test]
    fn frames_of_a_node_still_down_are_lost_when_the_session_ends() {
        let mut flow = Flow::new(&chain(), 4);
        send(&mut flow, 2);
        flow.went_down(1);
        assert_eq!(flow.settle(), 2);
        assert_eq!(flow.settle(), 0, "counted once");
    }

    #[test]
    fn a_node_with_nothing_in_flight_is_reported_back_at_once() {
        let mut flow = Flow::new(&chain(), 4);
        flow.went_down(0);
        flow.came_back(0);
        assert_eq!(
            flow.take_resolved().map(|(n, l)| (n, l.len())),
            Some((0, 0))
        );
    }
}
