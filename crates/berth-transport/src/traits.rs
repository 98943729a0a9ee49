//! The transport traits: small, object-safe, and copy-free on the data path.

use std::time::Duration;

use crate::frame::{audio_samples_mut, write_samples};
use crate::{ChannelName, FrameHeader, FrameKind, SessionId, TransportConfig, TransportError};

/// A way to move frames between processes; one instance serves many sessions.
pub trait Transport: Send + Sync + 'static {
    /// The name the transport is registered under (e.g. `iceoryx2`, `memory`).
    fn name(&self) -> &'static str;

    /// Whether runners in other processes (and containers) can attach to its channels.
    fn crosses_processes(&self) -> bool;

    /// Opens the transport for one session; every resource it creates is tagged with `session`.
    fn open_session(
        &self,
        session: &SessionId,
        config: &TransportConfig,
    ) -> Result<Box<dyn SessionTransport>, TransportError>;

    /// Removes whatever a session left behind (e.g. after a crash); returns how many resources
    /// were removed. Safe to call for a session that left nothing.
    fn sweep_session(&self, session: &SessionId) -> Result<usize, TransportError>;

    /// Lists the resources a session still holds (files, segments), for leak checks.
    fn session_resources(&self, session: &SessionId) -> Vec<String>;

    /// Host folders a runner in another mount namespace (a container) must see at the same
    /// path, writable, to reach the channels (e.g. where the transport keeps its files and
    /// shared memory). Empty for in-process transports.
    fn shared_paths(&self) -> Vec<std::path::PathBuf> {
        Vec::new()
    }
}

/// One session's view of a transport. Dropping it releases every channel it created.
pub trait SessionTransport: Send + Sync {
    /// The session.
    fn session(&self) -> &SessionId;

    /// Creates `channel`; it lives until this session transport is dropped.
    fn create_channel(&self, channel: &ChannelName) -> Result<(), TransportError>;

    /// A writer on an existing channel.
    fn sender(&self, channel: &ChannelName) -> Result<Box<dyn FrameSender>, TransportError>;

    /// A reader on an existing channel; it sees frames sent after it was created.
    fn receiver(&self, channel: &ChannelName) -> Result<Box<dyn FrameReceiver>, TransportError>;

    /// Fields of the runner spec (`docs/PROTOCOL.md`) a runner in another process needs to
    /// reach this session's channels (empty for in-process transports).
    fn runner_spec(&self) -> Vec<(String, String)>;
}

/// Writes frames into a channel.
pub trait FrameSender: Send {
    /// Loans a `payload_len`-byte frame, lets `fill` write the header fields and the payload in
    /// place, and sends it. The sender sets `sequence` and `payload_len` itself; `fill` sets the
    /// rest. Implementations give 8-byte aligned payloads (the conformance suite checks it), so
    /// a payload can be viewed as samples in place. Returns the frame's sequence number.
    fn send_with(
        &mut self,
        payload_len: usize,
        fill: &mut dyn FnMut(&mut FrameHeader, &mut [u8]),
    ) -> Result<u64, TransportError>;

    /// The channel written to.
    fn channel(&self) -> &ChannelName;
}

/// What a successful receive reports besides the frame itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Frames missing between the previous frame and this one (0 when none was lost).
    pub lost_before: u64,
}

/// Reads frames from a channel.
pub trait FrameReceiver: Send {
    /// Waits up to `timeout` for the next frame and lets `read` see it in place. Returns
    /// `Ok(None)` when the timeout passed without a frame.
    fn receive_with(
        &mut self,
        timeout: Duration,
        read: &mut dyn FnMut(&FrameHeader, &[u8]),
    ) -> Result<Option<Delivery>, TransportError>;

    /// The channel read from.
    fn channel(&self) -> &ChannelName;

    /// A file descriptor that turns readable when a frame may have arrived, so an event loop
    /// (epoll, tokio's reactor) can wait on many receivers at once without a thread; `None`
    /// when the transport has none (the caller then polls). Valid while the receiver lives.
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// Takes the pending wake-ups without waiting, so [`FrameReceiver::wake_fd`] reads idle
    /// until the next frame arrives. Call it before looking for frames, not after.
    fn clear_wakes(&mut self) {}

    /// The caller promises to look for frames again, without blocking, until `until_ns`
    /// ([`crate::monotonic_ns`]) and once more after it; a transport may then spare its
    /// writers the wake-up meanwhile. `0` withdraws the promise; the caller then looks once
    /// more before it next blocks. Does nothing by default.
    fn promise_to_look(&mut self, until_ns: u64) {
        let _ = until_ns;
    }
}

/// Conveniences over [`FrameSender`], for every sender.
pub trait FrameSenderExt: FrameSender {
    /// Sends interleaved f32 samples, written straight into the loaned frame.
    fn send_audio(
        &mut self,
        samples: &[f32],
        sample_rate: u32,
        channels: u32,
        timestamp_ns: u64,
    ) -> Result<u64, TransportError> {
        self.send_with(std::mem::size_of_val(samples), &mut |header, payload| {
            audio_header(header, sample_rate, channels, timestamp_ns);
            write_samples(payload, samples);
        })
    }

    /// Sends `samples` interleaved f32 samples that `fill` writes into the loaned frame in
    /// place. `fill` runs once and must write every sample (the frame may hold what an earlier
    /// one left).
    fn send_audio_with(
        &mut self,
        samples: usize,
        sample_rate: u32,
        channels: u32,
        timestamp_ns: u64,
        fill: &mut dyn FnMut(&mut [f32]),
    ) -> Result<u64, TransportError> {
        self.send_with(samples * size_of::<f32>(), &mut |header, payload| {
            audio_header(header, sample_rate, channels, timestamp_ns);
            match audio_samples_mut(payload) {
                Some(frame) => fill(frame),
                // A transport that breaks the alignment promise still gets the frame, once
                // more copied.
                None => {
                    let mut frame = vec![0.0; samples];
                    fill(&mut frame);
                    write_samples(payload, &frame);
                }
            }
        })
    }

    /// Sends a text, JSON, bytes or control payload.
    fn send_bytes(
        &mut self,
        kind: FrameKind,
        bytes: &[u8],
        timestamp_ns: u64,
    ) -> Result<u64, TransportError> {
        self.send_with(bytes.len(), &mut |header, payload| {
            header.kind = kind as u32;
            header.timestamp_ns = timestamp_ns;
            payload.copy_from_slice(bytes);
        })
    }

    /// Sends an empty frame flagged end-of-stream.
    fn send_end_of_stream(&mut self) -> Result<u64, TransportError> {
        self.send_with(0, &mut |header, _| {
            header.kind = FrameKind::Control as u32;
            header.flags |= crate::END_OF_STREAM;
        })
    }
}

impl<T: FrameSender + ?Sized> FrameSenderExt for T {}

/// The header fields of an audio frame.
fn audio_header(header: &mut FrameHeader, sample_rate: u32, channels: u32, timestamp_ns: u64) {
    header.kind = FrameKind::Audio as u32;
    header.sample_rate = sample_rate;
    header.channels = channels;
    header.timestamp_ns = timestamp_ns;
}
