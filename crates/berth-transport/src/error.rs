//! Errors of every transport.

use thiserror::Error;

/// What can go wrong while moving frames.
#[derive(Debug, Error)]
pub enum TransportError {
    /// A session or node id cannot be used in a channel name.
    #[error("`{name}` cannot be used in a channel name: {rule}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The channel does not exist (not created by the host, or already removed).
    #[error(
        "channel `{channel}` does not exist; the host creates channels before runners open them"
    )]
    NoSuchChannel {
        /// The channel.
        channel: String,
    },
    /// A reader's queue stayed full for the whole send timeout.
    #[error(
        "channel `{channel}`: a reader's queue stayed full for {waited_ms} ms; the consumer is \
         slower than the producer (raise queue_depth or send_timeout, or slow the producer down)"
    )]
    Backpressure {
        /// The channel.
        channel: String,
        /// How long the writer waited.
        waited_ms: u64,
    },
    /// A frame larger than the transport can carry.
    #[error(
        "channel `{channel}`: a {len}-byte frame exceeds what the transport can carry ({limit} bytes)"
    )]
    FrameTooLarge {
        /// The channel.
        channel: String,
        /// The requested payload length.
        len: usize,
        /// The largest payload possible.
        limit: usize,
    },
    /// The session's channels could grow beyond the shared memory left on this host.
    #[error(
        "the session's {channels} channels may need {needed_mib} MiB of shared memory (each \
         holds up to {frames} frames of {frame_kib} KiB), but {path} has {available_mib} MiB \
         free; fix: enlarge {path} (`mount -o remount,size=2G {path}`, or `--shm-size` for a \
         container Berth itself runs in), or lower TransportConfig::max_frame_bytes or \
         queue_depth"
    )]
    SharedMemoryTooSmall {
        /// Where shared memory lives.
        path: String,
        /// Channels created so far, including the one that did not fit.
        channels: usize,
        /// Frames each channel can hold at once.
        frames: usize,
        /// The largest frame, in KiB.
        frame_kib: usize,
        /// What the channels can grow to, in MiB.
        needed_mib: u64,
        /// What was free when the session opened, in MiB.
        available_mib: u64,
    },
    /// The implementation failed (shared memory, event, file system).
    #[error("{transport} transport: {operation} failed on `{channel}`: {detail}")]
    Backend {
        /// Which transport.
        transport: &'static str,
        /// What was being done.
        operation: &'static str,
        /// The channel (or session) concerned.
        channel: String,
        /// The implementation's own message.
        detail: String,
    },
}
