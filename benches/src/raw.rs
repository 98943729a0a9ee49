//! Raw iceoryx2 ports for the baselines: the same service settings as Berth's transport
//! (`docs/PROTOCOL.md`: `[u8]` payload with a 40-byte user header, alignment 8, safe overflow
//! off, queue depth, power-of-two allocation, an event service of the same name, notify after
//! every send), written directly against the iceoryx2 API with nothing of Berth in between.
//!
//! The services live under the prefix `berth_{session}_` of a [`SessionId`], so the leak check
//! and sweep of Berth's transport cover them too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use berth_transport::{SessionId, TransportConfig};
use iceoryx2::port::listener::Listener;
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::{BackpressureAction, BackpressureInfo};
use iceoryx2::prelude::*;
use iceoryx2::service::port_factory::{event, publish_subscribe};

/// The service type Berth's transport uses (thread-safe ports, the same shared-memory layout
/// as the Python bindings' `ServiceType.Ipc`).
pub type Ipc = ipc_threadsafe::Service;

/// Header of a raw frame: 40 bytes like Berth's frame header. The Python echo declares the
/// same layout under the same type name.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct RawHeader {
    /// `CLOCK_MONOTONIC` ns when the frame was made.
    pub timestamp_ns: u64,
    /// Frame number.
    pub sequence: u64,
    /// Payload bytes.
    pub payload_len: u64,
    /// Bit 0: the peer should stop.
    pub flags: u64,
    /// Unused, keeps the size at 40 bytes.
    pub reserved: u64,
}

/// [`RawHeader::flags`] bit asking a peer to stop.
pub const STOP: u64 = 1;

// SAFETY: `RawHeader` is `#[repr(C)]` plain integers, valid in any process that maps it.
unsafe impl ZeroCopySend for RawHeader {
    unsafe fn type_name() -> &'static str {
        "BenchRawHeader"
    }
}

type PubSub = publish_subscribe::PortFactory<Ipc, [u8], RawHeader>;
type Events = event::PortFactory<Ipc>;

/// An iceoryx2 node under a session's prefix, creating raw services.
pub struct RawSession {
    session: SessionId,
    config: TransportConfig,
    node: Node<Ipc>,
}

/// A pub-sub service and the event service of the same name.
#[derive(Clone)]
pub struct RawChannel {
    name: String,
    services: Arc<(PubSub, Events)>,
    config: TransportConfig,
}

impl RawSession {
    /// A node with the prefix `berth_{session}_` and iceoryx2's default root path; `config`
    /// gives the queue depth, largest frame, spin and send timeout.
    pub fn new(session: &SessionId, config: &TransportConfig) -> anyhow::Result<Self> {
        let mut iox = Config::default();
        let prefix = format!("berth_{session}_");
        iox.global.prefix = FileName::new(prefix.as_bytes()).map_err(|e| anyhow!("{e:?}"))?;
        let node = NodeBuilder::new()
            .name(&NodeName::new("bench-host").map_err(|e| anyhow!("{e:?}"))?)
            .config(&iox)
            .create::<Ipc>()
            .map_err(|e| anyhow!("create the iceoryx2 node: {e:?}"))?;
        Ok(Self {
            session: session.clone(),
            config: config.clone(),
            node,
        })
    }

    /// The session whose prefix the services carry.
    pub fn session(&self) -> &SessionId {
        &self.session
    }

    /// Creates the pub-sub and event services `{session}_{name}`.
    pub fn channel(&self, name: &str) -> anyhow::Result<RawChannel> {
        let full = format!("{}_{name}", self.session);
        let service_name = ServiceName::new(&full).map_err(|e| anyhow!("{e:?}"))?;
        let data = self
            .node
            .service_builder(&service_name)
            .publish_subscribe::<[u8]>()
            .user_header::<RawHeader>()
            .payload_alignment(Alignment::new(8).expect("a power of two"))
            .enable_safe_overflow(false)
            .subscriber_max_buffer_size(self.config.queue_depth.max(1))
            .subscriber_max_borrowed_samples(2)
            .max_subscribers(8)
            .max_publishers(2)
            .max_nodes(16)
            .create()
            .map_err(|e| anyhow!("create pub-sub service {full}: {e:?}"))?;
        let events = self
            .node
            .service_builder(&service_name)
            .event()
            .max_notifiers(8)
            .max_listeners(8)
            .max_nodes(16)
            .create()
            .map_err(|e| anyhow!("create event service {full}: {e:?}"))?;
        Ok(RawChannel {
            name: full,
            services: Arc::new((data, events)),
            config: self.config.clone(),
        })
    }
}

impl RawChannel {
    /// The full service name (`{session}_{name}`), which a Python peer opens.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A publisher and notifier on this channel.
    pub fn sender(&self) -> anyhow::Result<RawSender> {
        let timeout = self.config.send_timeout;
        let publisher = self
            .services
            .0
            .publisher_builder()
            .initial_max_slice_len(self.config.max_frame_bytes.max(1))
            .allocation_strategy(AllocationStrategy::PowerOfTwo)
            .max_loaned_samples(2)
            .set_backpressure_handler(move |info: &BackpressureInfo| {
                if info.elapsed_time < timeout {
                    BackpressureAction::Retry
                } else {
                    BackpressureAction::DiscardDataAndFail
                }
            })
            .create()
            .map_err(|e| anyhow!("create a publisher on {}: {e:?}", self.name))?;
        let notifier = self
            .services
            .1
            .notifier_builder()
            .create()
            .map_err(|e| anyhow!("create a notifier on {}: {e:?}", self.name))?;
        Ok(RawSender {
            publisher,
            notifier,
            sequence: 0,
            _services: Arc::clone(&self.services),
        })
    }

    /// A subscriber and listener on this channel; `spin` decides whether a receive polls
    /// (`true`) or sleeps on the listener until woken (`false`).
    pub fn receiver(&self, spin: bool) -> anyhow::Result<RawReceiver> {
        let subscriber = self
            .services
            .0
            .subscriber_builder()
            .buffer_size(self.config.queue_depth.max(1))
            .create()
            .map_err(|e| anyhow!("create a subscriber on {}: {e:?}", self.name))?;
        let listener = self
            .services
            .1
            .listener_builder()
            .create()
            .map_err(|e| anyhow!("create a listener on {}: {e:?}", self.name))?;
        subscriber
            .has_samples()
            .map_err(|e| anyhow!("connect a subscriber: {e:?}"))?;
        Ok(RawReceiver {
            subscriber,
            listener,
            spin,
            _services: Arc::clone(&self.services),
        })
    }
}

/// Loans, writes in place, sends, notifies.
pub struct RawSender {
    publisher: Publisher<Ipc, [u8], RawHeader>,
    notifier: Notifier<Ipc>,
    sequence: u64,
    _services: Arc<(PubSub, Events)>,
}

impl RawSender {
    /// Sends a `len`-byte frame: `fill` writes the payload in place; the header gets the
    /// sequence number and `timestamp_ns` (`None`: now, taken just before the send).
    pub fn send_with(
        &mut self,
        len: usize,
        flags: u64,
        timestamp_ns: Option<u64>,
        fill: impl FnOnce(&mut [u8]),
    ) -> anyhow::Result<()> {
        let sample = self
            .publisher
            .loan_slice_uninit(len)
            .map_err(|e| anyhow!("loan {len} bytes: {e:?}"))?;
        // SAFETY: shared memory is zero-filled when mapped and only ever holds initialized
        // bytes afterwards.
        let mut sample = unsafe { sample.assume_init() };
        fill(sample.payload_mut());
        *sample.user_header_mut() = RawHeader {
            timestamp_ns: timestamp_ns.unwrap_or_else(berth_transport::monotonic_ns),
            sequence: self.sequence,
            payload_len: len as u64,
            flags,
            reserved: 0,
        };
        sample.send().map_err(|e| anyhow!("send: {e:?}"))?;
        self.sequence += 1;
        self.notifier
            .notify()
            .map_err(|e| anyhow!("notify: {e:?}"))?;
        Ok(())
    }

    /// Asks a peer to stop (an empty frame with [`STOP`]).
    pub fn send_stop(&mut self) -> anyhow::Result<()> {
        self.send_with(0, STOP, None, |_| {})
    }
}

/// Receives, spinning or woken by the event service.
pub struct RawReceiver {
    subscriber: Subscriber<Ipc, [u8], RawHeader>,
    listener: Listener<Ipc>,
    spin: bool,
    _services: Arc<(PubSub, Events)>,
}

impl RawReceiver {
    /// Waits up to `timeout` for a frame and lets `read` see it in place; `None` on timeout.
    pub fn receive_with<R>(
        &mut self,
        timeout: Duration,
        read: impl FnOnce(&RawHeader, &[u8]) -> R,
    ) -> anyhow::Result<Option<R>> {
        let deadline = Instant::now() + timeout;
        let mut read = Some(read);
        loop {
            if let Some(sample) = self
                .subscriber
                .receive()
                .map_err(|e| anyhow!("receive: {e:?}"))?
            {
                let read = read.take().expect("called once");
                return Ok(Some(read(sample.user_header(), sample.payload())));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            if self.spin {
                std::hint::spin_loop();
            } else {
                self.listener
                    .timed_wait(|_| {}, deadline - now)
                    .context("wait for an event")
                    .map_err(|e| anyhow!("{e:?}"))?;
            }
        }
    }
}
