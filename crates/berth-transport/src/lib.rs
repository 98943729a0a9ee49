//! The IPC-transport trait of Berth.
//!
//! A transport moves [frames](FrameHeader) between the host runtime and node runners over
//! session-scoped channels named `{session_id}_{node_id}_{role}`. The trait is small and
//! object-safe: a [`Transport`] opens a [`SessionTransport`], which creates channels and hands out
//! [`FrameSender`]s and [`FrameReceiver`]s. Frames are written and read in place through
//! callbacks, so an implementation backed by shared memory never copies or allocates on the data
//! path. Conveniences (`send_audio`, `send_text`, …) live in [`FrameSenderExt`].
//!
//! Implementations register themselves with [`inventory`] through [`TransportPlugin`]; the
//! [`memory`] transport ships here, the iceoryx2 one lives in its own plugin crate. Every
//! implementation runs the same suite in [`conformance`] (feature `conformance`).

mod channel;
mod config;
mod error;
mod frame;
pub mod memory;
mod registry;
mod traits;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use channel::{ChannelName, ChannelRole, SessionId};
pub use config::TransportConfig;
pub use error::TransportError;
pub use frame::{
    END_OF_STREAM, FrameHeader, FrameKind, audio_samples, audio_samples_mut, monotonic_ns,
};
pub use registry::{TransportPlugin, transport_by_name, transport_names};
pub use traits::{
    Delivery, FrameReceiver, FrameSender, FrameSenderExt, SessionTransport, Transport,
};

/// Re-exported so plugins register without depending on `inventory` themselves.
pub use inventory;
