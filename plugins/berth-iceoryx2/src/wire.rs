//! The frame header as iceoryx2 sees it: same bytes, with the cross-language type name.

use berth_transport::FrameHeader;
use iceoryx2::prelude::ZeroCopySend;

/// [`FrameHeader`] under the iceoryx2 type name `BerthFrameHeader`, which the Python runner's
/// `ctypes` structure declares too.
#[derive(Clone, Copy, Debug, Default)]
#[repr(transparent)]
pub(crate) struct WireHeader(pub(crate) FrameHeader);

// SAFETY: `FrameHeader` is `#[repr(C)]` plain old data (integers only, no pointers), so it is
// valid in any process that maps it; the Python side declares the identical layout.
unsafe impl ZeroCopySend for WireHeader {
    unsafe fn type_name() -> &'static str {
        "BerthFrameHeader"
    }
}

/// Payload alignment of every Berth service: enough for f32 and f64 audio.
pub(crate) const PAYLOAD_ALIGNMENT: usize = 8;
