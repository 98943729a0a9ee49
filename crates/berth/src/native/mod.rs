//! Native nodes: Rust node types that run on a host thread, registered through `inventory`.
//!
//! A native node reads its input frames in place and writes its outputs straight into loaned
//! frames, like any other writer; it speaks the same control protocol as the Python runner, so
//! the session treats every node alike.

mod builtin;
mod thread;

use berth_transport::{FrameHeader, FrameSender, audio_samples};

pub(crate) use thread::spawn_native;

/// One input frame, read in place.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Its header.
    pub header: &'a FrameHeader,
    /// Its payload.
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// The payload as f32 samples, for audio frames.
    pub fn audio(&self) -> Option<&[f32]> {
        (self.header.frame_kind() == Some(berth_transport::FrameKind::Audio))
            .then(|| audio_samples(self.payload))
            .flatten()
    }
}

/// A node implemented in Rust.
pub trait NativeNode: Send {
    /// Processes one input frame, sending zero or more outputs through `out`. An `Err` is
    /// reported to the host as that frame's error; the node goes on with the next frame.
    fn process(&mut self, input: Frame<'_>, out: &mut dyn FrameSender) -> Result<(), String>;
}

/// A registered native node type: submit one with `inventory::submit!`.
pub struct NativeNodeType {
    /// The `node_type` manifests name it by.
    pub name: &'static str,
    /// Builds a node from the manifest's `params`.
    pub create: fn(&serde_json::Value) -> Result<Box<dyn NativeNode>, String>,
}

inventory::collect!(NativeNodeType);

impl berth_registry::Registered for NativeNodeType {
    const KIND: &'static str = "native node type";

    fn name(&self) -> &'static str {
        self.name
    }
}

/// Names of every registered native node type, sorted.
///
/// # Panics
/// If two node types are registered under one name: a build mistake.
pub fn native_node_types() -> Vec<&'static str> {
    berth_registry::names::<NativeNodeType>()
}

/// Builds the native node `name` with `params`.
pub fn create_native(
    name: &str,
    params: &serde_json::Value,
) -> Result<Box<dyn NativeNode>, String> {
    let node_type = berth_registry::find::<NativeNodeType>(name).map_err(|e| e.to_string())?;
    (node_type.create)(params)
}
