//! Writers and readers of one channel: loan, write in place, send, ring; spin, wait, read.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_transport::{
    ChannelName, Delivery, FrameHeader, FrameReceiver, FrameSender, TransportConfig, TransportError,
};
use iceoryx2::port::listener::{Listener, ListenerWaitError};
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::{BackpressureAction, BackpressureInfo, LoanError, SendError};
use iceoryx2::prelude::*;

use crate::bell::{Bell, Ringer};
use crate::services::{Ipc, Services, error};
use crate::wire::WireHeader;

/// How a writer wakes the channel's readers after a send.
enum Ring {
    /// iceoryx2's event service.
    Event(Box<Notifier<Ipc>>),
    /// Every reader's doorbell (`bell.rs`).
    Bells(Ringer),
}

pub(crate) struct Iceoryx2Sender {
    name: ChannelName,
    publisher: Publisher<Ipc, [u8], WireHeader>,
    ring: Ring,
    next_sequence: u64,
    send_timeout: Duration,
    // Keeps the services open as long as the ports.
    _services: Arc<Services>,
}

impl Iceoryx2Sender {
    /// A writer of `name`; with `bells`, it rings the doorbells in that folder instead of
    /// notifying the event service.
    pub(crate) fn new(
        name: ChannelName,
        services: Arc<Services>,
        config: &TransportConfig,
        bells: Option<PathBuf>,
    ) -> Result<Self, TransportError> {
        let send_timeout = config.send_timeout;
        let publisher = services
            .data
            .publisher_builder()
            .initial_max_slice_len(config.max_frame_bytes.max(1))
            .allocation_strategy(AllocationStrategy::PowerOfTwo)
            .max_loaned_samples(2)
            // A full reader queue holds the writer back for up to `send_timeout`; after that the
            // send fails and the caller is told, rather than a frame vanishing.
            .set_backpressure_handler(move |info: &BackpressureInfo| {
                if info.elapsed_time < send_timeout {
                    BackpressureAction::Retry
                } else {
                    BackpressureAction::DiscardDataAndFail
                }
            })
            .create()
            .map_err(|e| error("create a publisher", name.as_str(), e))?;
        let ring = match bells {
            Some(dir) => Ring::Bells(
                Ringer::new(dir).map_err(|e| error("open the doorbells", name.as_str(), e))?,
            ),
            None => Ring::Event(Box::new(
                services
                    .events(&name)?
                    .notifier_builder()
                    .create()
                    .map_err(|e| error("create a notifier", name.as_str(), e))?,
            )),
        };
        Ok(Self {
            name,
            publisher,
            ring,
            next_sequence: 0,
            send_timeout,
            _services: services,
        })
    }
}

impl FrameSender for Iceoryx2Sender {
    fn send_with(
        &mut self,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut FrameHeader, &mut [u8]),
    ) -> Result<u64, TransportError> {
        let sample = self
            .publisher
            .loan_slice_uninit(payload_len)
            .map_err(|e| match e {
                LoanError::ExceedsMaxLoanSize => TransportError::FrameTooLarge {
                    channel: self.name.to_string(),
                    len: payload_len,
                    limit: self.publisher.initial_max_slice_len(),
                },
                other => error("loan a sample", self.name.as_str(), other),
            })?;
        // SAFETY: shared memory is zero-filled by the kernel when mapped and only ever holds
        // initialized bytes afterwards, so the loaned bytes are initialized `u8`s.
        let mut sample = unsafe { sample.assume_init() };
        let mut header = FrameHeader::default();
        fill(&mut header, sample.payload_mut());
        header.sequence = self.next_sequence;
        header.payload_len = payload_len as u64;
        *sample.user_header_mut() = WireHeader(header);
        match sample.send() {
            Ok(delivered) => {
                let readers = self._services.data.dynamic_config().number_of_subscribers();
                if delivered < readers {
                    // A reader whose queue filled up before it ever polled is not held back by
                    // the handler above; the frame did not reach it, so say so.
                    if delivered == 0 {
                        return Err(TransportError::Backpressure {
                            channel: self.name.to_string(),
                            waited_ms: 0,
                        });
                    }
                    tracing::warn!(channel = %self.name, delivered, readers, "a frame reached only some readers");
                }
            }
            Err(SendError::UnableToDeliver) => {
                return Err(TransportError::Backpressure {
                    channel: self.name.to_string(),
                    waited_ms: self.send_timeout.as_millis() as u64,
                });
            }
            Err(e) => return Err(error("send a sample", self.name.as_str(), e)),
        }
        self.next_sequence += 1;
        match &mut self.ring {
            Ring::Event(notifier) => {
                notifier
                    .notify()
                    .map_err(|e| error("notify readers", self.name.as_str(), e))?;
            }
            Ring::Bells(ringer) => ringer
                .ring()
                .map_err(|e| error("ring the readers' doorbells", self.name.as_str(), e))?,
        }
        Ok(header.sequence)
    }

    fn channel(&self) -> &ChannelName {
        &self.name
    }
}

/// Held while a listener is created (see [`Iceoryx2Receiver::new`]).
static LISTENER_BIND: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What a reader sleeps on between frames.
enum Wake {
    /// iceoryx2's event service.
    Event(Box<Listener<Ipc>>),
    /// A doorbell of its own (`bell.rs`).
    Bell(Bell),
}

pub(crate) struct Iceoryx2Receiver {
    name: ChannelName,
    subscriber: Subscriber<Ipc, [u8], WireHeader>,
    wake: Wake,
    spin: Duration,
    expected: Option<u64>,
    _services: Arc<Services>,
}

impl Iceoryx2Receiver {
    /// A reader of `name`; with `bells`, it makes a doorbell in that folder and sleeps on it
    /// instead of on the event service.
    pub(crate) fn new(
        name: ChannelName,
        services: Arc<Services>,
        config: &TransportConfig,
        bells: Option<PathBuf>,
    ) -> Result<Self, TransportError> {
        // The bell comes before the subscriber: a writer that reached this reader finds it.
        let bell = bells
            .map(|dir| Bell::create(&dir).map_err(|e| error("make a doorbell", name.as_str(), e)))
            .transpose()?;
        let subscriber = services
            .data
            .subscriber_builder()
            .buffer_size(config.queue_depth.max(1))
            .create()
            .map_err(|e| error("create a subscriber", name.as_str(), e))?;
        let wake = match bell {
            Some(bell) => Wake::Bell(bell),
            None => Wake::Event(Box::new(listener(&services, &name)?)),
        };
        // Attach to the writers that exist already, so their backpressure applies from the start.
        subscriber
            .has_samples()
            .map_err(|e| error("connect a subscriber", name.as_str(), e))?;
        Ok(Self {
            name,
            subscriber,
            wake,
            spin: config.spin,
            expected: None,
            _services: services,
        })
    }
}

/// A listener on the channel's event service.
fn listener(services: &Services, name: &ChannelName) -> Result<Listener<Ipc>, TransportError> {
    let events = services.events(name)?;
    // iceoryx2 binds a listener's socket under a temporary process-wide umask (set, bind,
    // restore); two binds at once can leave the process with its 0177 for good, and every
    // folder made afterwards unsearchable. One bind at a time.
    let _one = LISTENER_BIND.lock().unwrap_or_else(|p| p.into_inner());
    events
        .listener_builder()
        .create()
        .map_err(|e| error("create a listener", name.as_str(), e))
}

impl FrameReceiver for Iceoryx2Receiver {
    fn receive_with(
        &mut self,
        timeout: Duration,
        read: &mut dyn FnMut(&FrameHeader, &[u8]),
    ) -> Result<Option<Delivery>, TransportError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let spin_until = started + self.spin.min(timeout);
        loop {
            let received = self
                .subscriber
                .receive()
                .map_err(|e| error("receive a sample", self.name.as_str(), e))?;
            if let Some(sample) = received {
                let header = &sample.user_header().0;
                let lost_before = self
                    .expected
                    .map_or(0, |expected| header.sequence.saturating_sub(expected));
                self.expected = Some(header.sequence + 1);
                read(header, sample.payload());
                return Ok(Some(Delivery { lost_before }));
            }
            let now = Instant::now();
            if now < spin_until {
                std::hint::spin_loop();
                continue;
            }
            if now >= deadline {
                return Ok(None);
            }
            // Writers ring after every send; a ring that came before we started waiting is
            // still pending, so nothing is missed between receive() and the wait.
            match &mut self.wake {
                Wake::Event(listener) => match listener.timed_wait(|_| {}, deadline - now) {
                    Ok(_) => {}
                    // A signal (e.g. SIGCHLD when a runner exits) interrupted the wait.
                    Err(ListenerWaitError::InterruptSignal) => {}
                    Err(e) => return Err(error("wait for an event", self.name.as_str(), e)),
                },
                Wake::Bell(bell) => {
                    bell.wait(deadline - now)
                        .map_err(|e| error("wait for the doorbell", self.name.as_str(), e))?;
                }
            }
        }
    }

    fn channel(&self) -> &ChannelName {
        &self.name
    }

    /// The listener's event socket or the doorbell: writers ring it after every send.
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        match &self.wake {
            // SAFETY: the descriptor belongs to the listener, which lives as long as `self`;
            // it is only handed out for readiness polling, never closed or read through this.
            Wake::Event(listener) => Some(unsafe { listener.file_descriptor().native_handle() }),
            Wake::Bell(bell) => Some(bell.fd()),
        }
    }

    fn clear_wakes(&mut self) {
        match &mut self.wake {
            Wake::Event(listener) => {
                if let Err(e) = listener.try_wait(|_| {}) {
                    tracing::debug!(channel = %self.name, error = ?e, "clearing wake-ups failed");
                }
            }
            Wake::Bell(bell) => bell.clear(),
        }
    }

    /// Written beside the reader's doorbell (`bell.rs`); iceoryx2's event has no such thing.
    fn promise_to_look(&mut self, until_ns: u64) {
        if let Wake::Bell(bell) = &self.wake {
            bell.promise(until_ns);
        }
    }
}
