//! Berth's shared-memory transport over iceoryx2.
//!
//! Every channel is an iceoryx2 publish-subscribe service of `[u8]` payloads with a
//! [`FrameHeader`](berth_transport::FrameHeader) user header; sleeping readers are woken by a
//! named pipe each ([`Doorbell::Fifo`]) or by an event service of the channel's name
//! ([`Doorbell::Event`]). Writers loan a sample and write the payload straight into shared
//! memory; readers see the payload in place. Each session uses its own iceoryx2 prefix
//! (`berth_{session_id}_`), so every file and shared-memory segment it creates names the session
//! and a sweep can remove what a crashed session left behind. The wire settings are those of
//! `docs/PROTOCOL.md`, which the Python runner follows too.

mod bell;
mod channel;
mod resources;
mod services;
mod session;
mod wire;

use std::path::PathBuf;
use std::sync::Arc;

use berth_transport::{SessionId, SessionTransport, Transport, TransportConfig, TransportError};

pub use resources::session_prefix;

/// The iceoryx2 version this plugin speaks; runners must use exactly this one.
pub const ICEORYX2_VERSION: &str = "0.10.0";

/// How a channel's writers wake its sleeping readers after a send.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Doorbell {
    /// iceoryx2's event service of the channel's name (a Unix datagram socket per reader).
    Event,
    /// A named pipe per reader in `{root}/{prefix}{channel}.bells`, which writers write a byte
    /// to. Side by side with the event here: faster for host-process nodes, on a par for
    /// containers, a lower p99 for both, less CPU for the writer (BENCHMARKS.md, "Waiting").
    #[default]
    Fifo,
}

impl Doorbell {
    /// The name runners are given (`iceoryx2_doorbell`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Event => "event",
            Self::Fifo => "fifo",
        }
    }
}

/// The iceoryx2 transport.
#[derive(Clone, Debug)]
pub struct Iceoryx2Transport {
    root: PathBuf,
    doorbell: Doorbell,
}

impl Iceoryx2Transport {
    /// A transport whose iceoryx2 root path is `/dev/shm/iceoryx2`: on the tmpfs that holds
    /// the segments, so creating a service or node file costs no `fsync` to a disk (iceoryx2's
    /// default, `/tmp/iceoryx2`, is often on one: about 0.5 ms a file).
    pub fn new() -> Self {
        Self::with_root(resources::DEFAULT_ROOT)
    }

    /// A transport whose iceoryx2 root path is `root`, an absolute path: e.g. iceoryx2's
    /// default `/tmp/iceoryx2`, to see Berth's services from other iceoryx2 programs. Outside
    /// `/dev/shm`, containers bind it beside `/dev/shm`.
    pub fn with_root(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            doorbell: Doorbell::default(),
        }
    }

    /// The same transport, waking readers with `doorbell`.
    pub fn with_doorbell(mut self, doorbell: Doorbell) -> Self {
        self.doorbell = doorbell;
        self
    }

    /// How writers wake readers.
    pub fn doorbell(&self) -> Doorbell {
        self.doorbell
    }

    /// The directory where iceoryx2 keeps its service and node files; containers mount it.
    pub fn root_path(&self) -> &std::path::Path {
        &self.root
    }
}

impl Default for Iceoryx2Transport {
    fn default() -> Self {
        Self::new()
    }
}

impl Transport for Iceoryx2Transport {
    fn name(&self) -> &'static str {
        "iceoryx2"
    }

    fn crosses_processes(&self) -> bool {
        true
    }

    fn open_session(
        &self,
        session: &SessionId,
        config: &TransportConfig,
    ) -> Result<Box<dyn SessionTransport>, TransportError> {
        Ok(Box::new(session::Iceoryx2Session::open(
            &self.root,
            session,
            config,
            self.doorbell,
        )?))
    }

    fn sweep_session(&self, session: &SessionId) -> Result<usize, TransportError> {
        resources::sweep(&self.root, session)
    }

    fn session_resources(&self, session: &SessionId) -> Vec<String> {
        resources::list(&self.root, session)
    }

    /// The root path (service and node files, event sockets, liveness locks) and `/dev/shm`
    /// (the data segments): a container must bind both; `/dev/shm` alone when the root is in it.
    fn shared_paths(&self) -> Vec<PathBuf> {
        let shm = PathBuf::from(resources::SHM_DIR);
        if resources::in_shm(&self.root) {
            vec![shm]
        } else {
            vec![self.root.clone(), shm]
        }
    }
}

berth_transport::inventory::submit! {
    berth_transport::TransportPlugin { name: "iceoryx2", create: || Ok(Arc::new(Iceoryx2Transport::new())) }
}
