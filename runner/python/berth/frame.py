"""The frame header every Berth channel carries in front of a payload (see docs/PROTOCOL.md)."""

import ctypes
import struct
import time

KIND_AUDIO = 0
"""f32 little-endian samples, channels interleaved."""
KIND_TEXT = 1
"""UTF-8 text."""
KIND_JSON = 2
"""UTF-8 JSON."""
KIND_BYTES = 3
"""Opaque bytes."""
KIND_CONTROL = 4
"""A JSON control message (ready, error, stopped, ...)."""

KIND_NAMES = {
    KIND_AUDIO: "audio",
    KIND_TEXT: "text",
    KIND_JSON: "json",
    KIND_BYTES: "bytes",
    KIND_CONTROL: "control",
}
KIND_CODES = {name: code for code, name in KIND_NAMES.items()}

END_OF_STREAM = 1
"""Flag bit: the writer will send nothing more on this channel."""

HEADER_TYPE_NAME = "BerthFrameHeader"


class FrameHeader(ctypes.Structure):
    """`#[repr(C)]` frame header: 40 bytes, 8-byte aligned, shared with the Rust host."""

    _fields_ = [
        ("kind", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("sequence", ctypes.c_uint64),
        ("timestamp_ns", ctypes.c_uint64),
        ("sample_rate", ctypes.c_uint32),
        ("channels", ctypes.c_uint32),
        ("payload_len", ctypes.c_uint64),
    ]

    @staticmethod
    def type_name() -> str:
        """The iceoryx2 type name; must match the host's user header type."""
        return HEADER_TYPE_NAME


assert ctypes.sizeof(FrameHeader) == 40
assert ctypes.alignment(FrameHeader) == 8

HEADER_LAYOUT = struct.Struct("<IIQQIIQ")
"""`FrameHeader`'s fields in order, packed or unpacked in one call (a third of the cost of
setting or reading them one by one through ctypes): the frame path's way to the header."""
assert HEADER_LAYOUT.size == ctypes.sizeof(FrameHeader)


def monotonic_ns() -> int:
    """`CLOCK_MONOTONIC` in nanoseconds (the clock frame timestamps use)."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)
