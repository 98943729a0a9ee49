//! Where a session's frames are, so that none is lost without being counted: the frames sent
//! into each host-fed node and not answered yet, and the frames dropped while a node is down.
//!
//! Nodes copy the timestamp of the input they answer to what they make of it, so an output
//! with timestamp `t` answers every frame sent before it into the host-fed nodes it descends
//! from (nodes answer in order). A runner holds at most a queue of frames plus the one in
//! `process()`, so a node keeps at most `queue depth + 1` unanswered frames here; nothing on
//! this path allocates once the queues have their capacity.

use std::collections::{BTreeMap, VecDeque};

use crate::plan::Plan;

/// Frames of one pipeline input that were lost, by number (`first..=last`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostFrames {
    /// The pipeline input.
    pub input: String,
    /// The first lost frame's number (as [`Session::send_audio`](crate::Session::send_audio)
    /// returned it).
    pub first: u64,
    /// The last lost frame's number.
    pub last: u64,
}

impl std::fmt::Display for LostFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{} frame {}", self.input, self.first)
        } else {
            write!(f, "{} frames {}..={}", self.input, self.first, self.last)
        }
    }
}

/// One frame sent into a host-fed node.
#[derive(Clone, Copy)]
struct Sent {
    input: usize,
    number: u64,
    timestamp_ns: u64,
}

/// The session's graph and its frames in flight; indexes are `plan.nodes` positions.
pub(super) struct Flow {
    /// Per node: itself and every node downstream of it.
    downstream: Vec<Vec<usize>>,
    /// Per node: itself and every host-fed node upstream of it.
    fed_from: Vec<Vec<usize>>,
    /// Pipeline input name → its index.
    input_index: BTreeMap<String, usize>,
    /// Per pipeline input: the nodes its senders feed, in sender order.
    targets: Vec<Vec<usize>>,
    /// Per pipeline output (in `plan.outputs` order): the host-fed nodes it answers for.
    answers: Vec<Vec<usize>>,
    /// Per node: frames sent into it and not answered yet (host-fed nodes only).
    in_flight: Vec<VecDeque<Sent>>,
    /// Per node: whether its runner is down.
    down: Vec<bool>,
    /// Per node: frames lost since it went down.
    lost: Vec<Vec<LostFrames>>,
    /// Pipeline input names, by index.
    input_names: Vec<String>,
    /// Per pipeline input: the next frame's number.
    next_number: Vec<u64>,
    capacity: usize,
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
        let answers = plan
            .outputs
            .iter()
            .map(|(node_id, _)| {
                nodes
                    .iter()
                    .position(|n| &n.spec.id == node_id)
                    .map(|i| fed_from[i].clone())
                    .unwrap_or_default()
            })
            .collect();
        let capacity = queue_depth + 1;
        Self {
            downstream,
            fed_from,
            input_index,
            targets,
            answers,
            in_flight: (0..count)
                .map(|i| {
                    if nodes[i].input.is_some() {
                        VecDeque::with_capacity(capacity)
                    } else {
                        VecDeque::new()
                    }
                })
                .collect(),
            down: vec![false; count],
            lost: vec![Vec::new(); count],
            next_number: vec![0; input_names.len()],
            input_names,
            capacity,
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
        let queue = &mut self.in_flight[node];
        if queue.len() == self.capacity {
            // Older than anything a runner can still hold: it was taken (and answered, or
            // dropped by the node's own logic).
            queue.pop_front();
        }
        queue.push_back(Sent {
            input,
            number,
            timestamp_ns,
        });
    }

    /// A frame was not sent because `down` (at or downstream of its target) is down.
    pub(super) fn dropped(&mut self, down: usize, input: usize, number: u64) {
        push_lost(&mut self.lost[down], &self.input_names[input], number);
    }

    /// Pipeline output `output` delivered a frame answering inputs up to `timestamp_ns`.
    pub(super) fn answered(&mut self, output: usize, timestamp_ns: u64) {
        for &node in &self.answers[output] {
            let queue = &mut self.in_flight[node];
            while queue
                .front()
                .is_some_and(|s| s.timestamp_ns <= timestamp_ns)
            {
                queue.pop_front();
            }
        }
    }

    /// `node`'s runner died: every unanswered frame that was on its way through it is lost.
    /// Returns how many.
    pub(super) fn went_down(&mut self, node: usize) -> u64 {
        self.down[node] = true;
        let mut count = 0;
        for &fed in &self.fed_from[node] {
            while let Some(sent) = self.in_flight[fed].pop_front() {
                push_lost(
                    &mut self.lost[node],
                    &self.input_names[sent.input],
                    sent.number,
                );
                count += 1;
            }
        }
        count
    }

    /// `node` is back; returns what was lost while it was down.
    pub(super) fn came_back(&mut self, node: usize) -> Vec<LostFrames> {
        self.down[node] = false;
        std::mem::take(&mut self.lost[node])
    }
}

/// Adds frame `number` of `input` to `lost`, extending the last range when it continues it.
fn push_lost(lost: &mut Vec<LostFrames>, input: &str, number: u64) {
    if let Some(last) = lost.last_mut()
        && last.input == input
        && last.last + 1 == number
    {
        last.last = number;
        return;
    }
    lost.push(LostFrames {
        input: input.to_owned(),
        first: number,
        last: number,
    });
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

    #[test]
    fn frames_answered_leave_and_a_death_downstream_loses_the_rest_by_number() {
        let plan = chain();
        let mut flow = Flow::new(&plan, 4);
        let input = flow.input_index("mic").unwrap();
        assert_eq!(flow.target(input, 0), 0, "mic feeds a");
        for ts in 1..=5 {
            let n = flow.number(input);
            flow.sent(0, input, n, ts * 10);
        }
        flow.answered(0, 20); // b's output answered frames 0 and 1
        assert_eq!(
            flow.went_down(1),
            3,
            "frames 2, 3, 4 were on their way through b"
        );
        assert_eq!(flow.blocked_at(0), Some(1), "a frame into a would die at b");
        let n = flow.number(input);
        flow.dropped(1, input, n);
        let lost = flow.came_back(1);
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
    fn a_node_keeps_at_most_a_queue_and_one_unanswered_frame() {
        let plan = chain();
        let mut flow = Flow::new(&plan, 2);
        for n in 0..10 {
            flow.sent(0, 0, n, n + 1);
        }
        assert_eq!(flow.went_down(0), 3, "queue depth 2, plus one in process()");
        assert_eq!(flow.came_back(0)[0].first, 7);
    }
}
