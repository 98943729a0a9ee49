//! Graph questions about a manifest's connections.

use std::collections::{BTreeSet, HashMap};

use crate::schema::{Manifest, NodeSpec};

impl Manifest {
    /// Names in `from` that are not nodes: the pipeline's inputs, in first-seen order.
    pub fn pipeline_inputs(&self) -> Vec<&str> {
        let mut inputs: Vec<&str> = Vec::new();
        for c in &self.connections {
            if self.node(&c.from).is_none() && !inputs.contains(&c.from.as_str()) {
                inputs.push(&c.from);
            }
        }
        inputs
    }

    /// Nodes with no outgoing connection: the pipeline's outputs, in manifest order.
    pub fn pipeline_outputs(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| !self.connections.iter().any(|c| c.from == n.id))
            .map(|n| n.id.as_str())
            .collect()
    }

    /// Sources of the connections into `node_id` (node ids or pipeline input names), in order.
    pub fn upstream_of(&self, node_id: &str) -> Vec<&str> {
        self.connections
            .iter()
            .filter(|c| c.to == node_id)
            .map(|c| c.from.as_str())
            .collect()
    }

    /// Every node, each after all the nodes it reads from (manifest order among equals).
    pub fn topological_order(&self) -> Vec<&NodeSpec> {
        let mut done: BTreeSet<&str> = BTreeSet::new();
        let mut order = Vec::with_capacity(self.nodes.len());
        while order.len() < self.nodes.len() {
            let before = order.len();
            for node in &self.nodes {
                if done.contains(node.id.as_str()) {
                    continue;
                }
                let ready = self
                    .upstream_of(&node.id)
                    .iter()
                    .all(|u| self.node(u).is_none() || done.contains(u));
                if ready {
                    done.insert(&node.id);
                    order.push(node);
                }
            }
            if order.len() == before {
                // A cycle (validation rejects those); keep the rest in manifest order.
                order.extend(self.nodes.iter().filter(|n| !done.contains(n.id.as_str())));
                break;
            }
        }
        order
    }
}

/// A cycle among the connections, as node ids with the first repeated at the end.
pub(crate) fn find_cycle(manifest: &Manifest) -> Option<Vec<String>> {
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for c in &manifest.connections {
        edges
            .entry(c.from.as_str())
            .or_default()
            .push(c.to.as_str());
    }
    fn visit<'a>(
        node: &'a str,
        edges: &HashMap<&'a str, Vec<&'a str>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = stack.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = stack[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node) {
            return None;
        }
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    for c in &manifest.connections {
        if let Some(cycle) = visit(&c.from, &edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}
