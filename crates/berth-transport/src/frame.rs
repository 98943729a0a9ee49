//! The frame header every transport carries in front of a payload.
//!
//! The layout is fixed (`#[repr(C)]`, 40 bytes, 8-byte aligned) because the Python runner maps
//! the same bytes with `ctypes`; see `docs/PROTOCOL.md`.

/// Flag: the writer will send nothing more on this channel.
pub const END_OF_STREAM: u32 = 1;

/// What a frame's payload holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FrameKind {
    /// f32 little-endian samples, channels interleaved.
    Audio = 0,
    /// UTF-8 text.
    Text = 1,
    /// UTF-8 JSON.
    Json = 2,
    /// Opaque bytes.
    Bytes = 3,
    /// A JSON control message (ready, error, stopped, …).
    Control = 4,
}

impl FrameKind {
    /// The kind encoded as `value`, if known.
    pub fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Audio,
            1 => Self::Text,
            2 => Self::Json,
            3 => Self::Bytes,
            4 => Self::Control,
            _ => return None,
        })
    }
}

/// The fixed header in front of every payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct FrameHeader {
    /// A [`FrameKind`] as `u32`.
    pub kind: u32,
    /// Bit flags, e.g. [`END_OF_STREAM`].
    pub flags: u32,
    /// Per-writer sequence number: 0, 1, 2, …
    pub sequence: u64,
    /// `CLOCK_MONOTONIC` nanoseconds when the originating input frame was made.
    pub timestamp_ns: u64,
    /// Audio sample rate in Hz, 0 for other kinds.
    pub sample_rate: u32,
    /// Audio channel count, 0 for other kinds.
    pub channels: u32,
    /// Payload length in bytes.
    pub payload_len: u64,
}

const _: () = assert!(std::mem::size_of::<FrameHeader>() == 40);
const _: () = assert!(std::mem::align_of::<FrameHeader>() == 8);

impl FrameHeader {
    /// The payload kind, if it is a known one.
    pub fn frame_kind(&self) -> Option<FrameKind> {
        FrameKind::from_u32(self.kind)
    }

    /// Whether this frame ends its stream.
    pub fn is_end_of_stream(&self) -> bool {
        self.flags & END_OF_STREAM != 0
    }
}

/// Reads an audio payload in place as f32 samples (no copy).
///
/// Returns `None` if the payload is not 4-byte aligned or its length is not a multiple of 4;
/// transports align payloads to 8 bytes, so that only happens with foreign writers.
pub fn audio_samples(payload: &[u8]) -> Option<&[f32]> {
    // SAFETY: every bit pattern is a valid f32; `align_to` only yields the aligned middle.
    let (head, samples, tail) = unsafe { payload.align_to::<f32>() };
    (head.is_empty() && tail.is_empty()).then_some(samples)
}

/// Views a payload being written as f32 samples, in place; `None` if it is not 4-byte aligned
/// or its length is not a multiple of 4.
pub fn audio_samples_mut(payload: &mut [u8]) -> Option<&mut [f32]> {
    // SAFETY: every bit pattern is a valid f32; `align_to_mut` only yields the aligned middle.
    let (head, samples, tail) = unsafe { payload.align_to_mut::<f32>() };
    (head.is_empty() && tail.is_empty()).then_some(samples)
}

/// Writes f32 samples into a payload buffer of exactly `4 * samples.len()` bytes.
pub(crate) fn write_samples(payload: &mut [u8], samples: &[f32]) {
    // SAFETY: `payload` has the length of `samples` in bytes (checked by the caller through the
    // loan size); f32 has no invalid bit patterns and the copy is byte-wise.
    debug_assert_eq!(payload.len(), std::mem::size_of_val(samples));
    unsafe {
        std::ptr::copy_nonoverlapping(
            samples.as_ptr().cast::<u8>(),
            payload.as_mut_ptr(),
            payload.len(),
        );
    }
}

/// The monotonic clock in nanoseconds, shared by every process on the machine (also inside
/// containers, which do not get their own time namespace).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_layout_matches_the_protocol() {
        assert_eq!(std::mem::offset_of!(FrameHeader, kind), 0);
        assert_eq!(std::mem::offset_of!(FrameHeader, flags), 4);
        assert_eq!(std::mem::offset_of!(FrameHeader, sequence), 8);
        assert_eq!(std::mem::offset_of!(FrameHeader, timestamp_ns), 16);
        assert_eq!(std::mem::offset_of!(FrameHeader, sample_rate), 24);
        assert_eq!(std::mem::offset_of!(FrameHeader, channels), 28);
        assert_eq!(std::mem::offset_of!(FrameHeader, payload_len), 32);
    }

    #[test]
    fn audio_payloads_are_read_in_place() {
        let samples = [0.5f32, -1.0, 0.25];
        let mut buf = vec![0u64; 2];
        let bytes = unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), 12) };
        write_samples(bytes, &samples);
        let view = audio_samples(bytes).unwrap();
        assert_eq!(view, &samples);
        assert_eq!(view.as_ptr().cast::<u8>(), bytes.as_ptr());
        assert!(
            audio_samples(&bytes[1..5]).is_none()
                || (bytes[1..].as_ptr() as usize).is_multiple_of(4)
        );
    }

    #[test]
    fn monotonic_clock_advances() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}
