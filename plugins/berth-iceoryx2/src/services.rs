//! The iceoryx2 services behind one Berth channel (pub-sub for frames, an event for wake-ups),
//! and how an iceoryx2 failure becomes a `TransportError`.

use berth_transport::{ChannelName, TransportError};
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::{event, publish_subscribe};

use crate::wire::WireHeader;

pub(crate) type Ipc = ipc_threadsafe::Service;
pub(crate) type PubSub = publish_subscribe::PortFactory<Ipc, [u8], WireHeader>;
pub(crate) type Events = event::PortFactory<Ipc>;

/// The pub-sub service and, unless the session rings doorbells, the event service behind one
/// channel.
pub(crate) struct Services {
    pub(crate) data: PubSub,
    pub(crate) events: Option<Events>,
}

impl Services {
    /// The event service; a session that rings doorbells has none.
    pub(crate) fn events(&self, channel: &ChannelName) -> Result<&Events, TransportError> {
        self.events.as_ref().ok_or_else(|| TransportError::Backend {
            transport: "iceoryx2",
            operation: "open the event service",
            channel: channel.to_string(),
            detail: "this session wakes readers with doorbells, not events".to_owned(),
        })
    }
}

/// A failed iceoryx2 `operation` on `channel`, with iceoryx2's own account of it.
pub(crate) fn error(
    operation: &'static str,
    channel: &str,
    detail: impl std::fmt::Debug,
) -> TransportError {
    TransportError::Backend {
        transport: "iceoryx2",
        operation,
        channel: channel.to_owned(),
        detail: format!("{detail:?}"),
    }
}
