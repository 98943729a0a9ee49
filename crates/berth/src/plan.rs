//! From a manifest to channels: who writes where, who reads what.
//!
//! Every node writes `S_N_output` and `S_N_control`. A node fed by a pipeline input reads
//! `S_N_input`, which the host writes; a node fed by another node `A` reads `S_A_output`
//! directly, so data between nodes never passes through the host.

use std::collections::BTreeMap;

use berth_manifest::{Executor, Manifest, NodeSpec};
use berth_transport::{ChannelName, ChannelRole, SessionId};

use crate::SessionError;

/// The channels of one session.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The session.
    pub session: SessionId,
    /// Every node, upstream first.
    pub nodes: Vec<PlannedNode>,
    /// Pipeline input name → the input channels it feeds.
    pub inputs: BTreeMap<String, Vec<ChannelName>>,
    /// Pipeline outputs: node id and the channel the host reads.
    pub outputs: Vec<(String, ChannelName)>,
}

/// One node's place in the session.
#[derive(Clone, Debug)]
pub struct PlannedNode {
    /// The manifest entry.
    pub spec: NodeSpec,
    /// How it runs.
    pub executor: Executor,
    /// The channel the host writes for it, when a pipeline input feeds it.
    pub input: Option<ChannelName>,
    /// The channels it reads, in the order of its incoming connections.
    pub reads: Vec<ChannelName>,
    /// The channel it writes.
    pub output: ChannelName,
    /// The channel it reports on.
    pub control: ChannelName,
}

impl Plan {
    /// Plans `manifest` for `session`.
    pub fn new(manifest: &Manifest, session: SessionId) -> Result<Self, SessionError> {
        let channel =
            |node: &str, role| ChannelName::new(&session, node, role).map_err(SessionError::from);
        let mut nodes = Vec::new();
        let mut inputs: BTreeMap<String, Vec<ChannelName>> = BTreeMap::new();
        for spec in manifest.topological_order() {
            let own_input = channel(&spec.id, ChannelRole::Input)?;
            let mut reads = Vec::new();
            let mut fed_by_host = false;
            for upstream in manifest.upstream_of(&spec.id) {
                if manifest.node(upstream).is_some() {
                    reads.push(channel(upstream, ChannelRole::Output)?);
                } else {
                    fed_by_host = true;
                    let targets = inputs.entry(upstream.to_owned()).or_default();
                    if !targets.contains(&own_input) {
                        targets.push(own_input.clone());
                    }
                }
            }
            if fed_by_host {
                reads.insert(0, own_input.clone());
            }
            nodes.push(PlannedNode {
                executor: spec.executor(),
                input: fed_by_host.then_some(own_input),
                reads,
                output: channel(&spec.id, ChannelRole::Output)?,
                control: channel(&spec.id, ChannelRole::Control)?,
                spec: spec.clone(),
            });
        }
        let outputs = manifest
            .pipeline_outputs()
            .into_iter()
            .map(|id| Ok((id.to_owned(), channel(id, ChannelRole::Output)?)))
            .collect::<Result<_, SessionError>>()?;
        Ok(Self {
            session,
            nodes,
            inputs,
            outputs,
        })
    }

    /// Every channel the host creates, each once.
    pub fn channels(&self) -> Vec<&ChannelName> {
        self.nodes
            .iter()
            .flat_map(|n| n.input.iter().chain([&n.output, &n.control]))
            .collect()
    }
}
