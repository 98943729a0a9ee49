"""`RuntimeData`: what a node receives and returns.

Received audio is zero-copy: `data.audio.samples` is a read-only numpy view directly on the
iceoryx2 shared-memory sample. The runner holds the sample only while `process()` runs and
releases it afterwards, so a node that keeps samples (or any view of them) beyond `process()`
must `.copy()` them first. Text, JSON and bytes payloads are decoded into ordinary Python
objects when the frame is received and stay valid.
"""

import builtins
import ctypes
import json as _json
from typing import Any, Callable, Generic, Optional, TypeVar, Union, overload

import numpy as np

from .frame import KIND_AUDIO, KIND_BYTES, KIND_JSON, KIND_NAMES, KIND_TEXT

BytesLike = Union[bytes, bytearray, memoryview]

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V")


class Audio:
    """Interleaved float32 audio.

    `samples` is 1-D interleaved (`[l0, r0, l1, r1, ...]`) for received frames; a node may
    build audio from a 1-D interleaved or a 2-D (frames x channels) array.
    """

    __slots__ = ("samples", "sample_rate", "channels")

    def __init__(self, samples: np.ndarray, sample_rate: int, channels: int) -> None:
        self.samples = samples
        self.sample_rate = sample_rate
        self.channels = channels

    @property
    def frames(self) -> np.ndarray:
        """The samples as a (frames x channels) view (no copy for contiguous data)."""
        return self.samples.reshape(-1, self.channels)

    @property
    def num_frames(self) -> int:
        """Number of sample frames (samples per channel)."""
        return int(self.samples.size // self.channels)

    @property
    def duration_s(self) -> float:
        """Duration in seconds."""
        return self.num_frames / self.sample_rate if self.sample_rate else 0.0

    def copy(self) -> "Audio":
        """A copy that owns its memory (safe to keep after `process()` returns)."""
        return Audio(self.samples.copy(), self.sample_rate, self.channels)

    def __repr__(self) -> str:
        return (
            f"Audio(frames={self.num_frames}, channels={self.channels}, "
            f"sample_rate={self.sample_rate})"
        )


class _KindAccessor(Generic[F, V]):
    """On the class, a constructor (`RuntimeData.audio(...)`); on an instance, the payload."""

    def __init__(self, factory: F, getter: Callable[["RuntimeData"], V]) -> None:
        self._factory = factory
        self._getter = getter
        self.__doc__ = factory.__doc__

    @overload
    def __get__(self, obj: None, owner: Any) -> F: ...

    @overload
    def __get__(self, obj: "RuntimeData", owner: Any) -> V: ...

    def __get__(self, obj: Optional["RuntimeData"], owner: Any) -> Union[F, V]:
        if obj is None:
            return self._factory
        return self._getter(obj)


def _wrong_kind(data: "RuntimeData", wanted: str) -> TypeError:
    return TypeError(f"this RuntimeData holds {data.kind}, not {wanted}")


def _audio_factory(
    samples: Any,
    sample_rate: int,
    channels: int = 1,
    timestamp_ns: Optional[int] = None,
) -> "RuntimeData":
    """Audio from float32 samples: 1-D interleaved or 2-D (frames x channels)."""
    arr = np.asarray(samples, dtype=np.float32)
    if arr.ndim == 2:
        if channels not in (1, arr.shape[1]):
            raise ValueError(f"channels={channels} does not match samples of shape {arr.shape}")
        channels = int(arr.shape[1])
    elif arr.ndim != 1:
        raise ValueError(f"audio samples must be 1-D or 2-D, not {arr.ndim}-D")
    if channels < 1:
        raise ValueError("channels must be >= 1")
    if arr.size % channels:
        raise ValueError(f"{arr.size} samples do not split into {channels} channels")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be > 0")
    return RuntimeData(KIND_AUDIO, Audio(arr, int(sample_rate), channels), timestamp_ns)


def _text_factory(text: str, timestamp_ns: Optional[int] = None) -> "RuntimeData":
    """UTF-8 text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")
    return RuntimeData(KIND_TEXT, text, timestamp_ns)


def _json_factory(obj: Any, timestamp_ns: Optional[int] = None) -> "RuntimeData":
    """Any JSON-serialisable value."""
    return RuntimeData(KIND_JSON, obj, timestamp_ns)


def _bytes_factory(data: BytesLike, timestamp_ns: Optional[int] = None) -> "RuntimeData":
    """Opaque bytes (bytes, bytearray or memoryview)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"bytes payload must be bytes-like, not {type(data).__name__}")
    return RuntimeData(KIND_BYTES, data, timestamp_ns)


def _get_audio(data: "RuntimeData") -> Audio:
    if data._kind != KIND_AUDIO:
        raise _wrong_kind(data, "audio")
    value: Audio = data._value
    return value


def _get_text(data: "RuntimeData") -> str:
    if data._kind != KIND_TEXT:
        raise _wrong_kind(data, "text")
    value: str = data._value
    return value


def _get_json(data: "RuntimeData") -> Any:
    if data._kind != KIND_JSON:
        raise _wrong_kind(data, "json")
    return data._value


def _get_bytes(data: "RuntimeData") -> bytes:
    if data._kind != KIND_BYTES:
        raise _wrong_kind(data, "bytes")
    value = data._value
    return value if isinstance(value, bytes) else bytes(value)


class RuntimeData:
    """One frame of data: audio, text, json or bytes.

    Build outputs with `RuntimeData.audio(samples, sample_rate, channels)`,
    `RuntimeData.text(s)`, `RuntimeData.json(obj)` or `RuntimeData.bytes(b)`; read inputs with
    `data.kind` and the property of the same name (`data.audio.samples`, `data.text`, ...).
    """

    __slots__ = (
        "_kind",
        "_value",
        "timestamp_ns",
        "sequence",
        "input",
        "_payload_address",
        "_payload_len",
        "_released",
        "_loan",
    )

    audio = _KindAccessor(_audio_factory, _get_audio)
    text = _KindAccessor(_text_factory, _get_text)
    json = _KindAccessor(_json_factory, _get_json)
    bytes = _KindAccessor(_bytes_factory, _get_bytes)

    def __init__(self, kind: int, value: Any, timestamp_ns: Optional[int] = None) -> None:
        self._kind = kind
        self._value = value
        #: CLOCK_MONOTONIC ns of the originating input frame (copied from input to output).
        self.timestamp_ns = timestamp_ns
        #: The writer's sequence number (received frames only).
        self.sequence: Optional[int] = None
        #: Name of the input channel the frame came from (received frames only).
        self.input: Optional[str] = None
        self._payload_address: Optional[int] = None
        self._payload_len: Optional[int] = None
        self._released = False
        #: `(port, loan, view)` of an output loaned in shared memory until it is sent; `False`
        #: once sent (a loan goes out once); `None` for everything else.
        self._loan: Any = None

    @classmethod
    def _received(
        cls,
        kind: int,
        value: Any,
        timestamp_ns: int,
        sequence: int,
        input_name: str,
        address: int,
        length: int,
    ) -> "RuntimeData":
        data = cls.__new__(cls)
        data._kind = kind
        data._value = value
        data.timestamp_ns = timestamp_ns
        data.sequence = sequence
        data.input = input_name
        data._payload_address = address
        data._payload_len = length
        data._released = False
        data._loan = None
        return data

    @classmethod
    def _loaned(
        cls,
        loan: Any,
        samples: np.ndarray,
        sample_rate: int,
        channels: int,
        timestamp_ns: Optional[int],
    ) -> "RuntimeData":
        data = cls(KIND_AUDIO, Audio(samples, sample_rate, channels), timestamp_ns)
        data._loan = loan
        return data

    @property
    def loaned(self) -> bool:
        """True for an output written in place in shared memory (`Node.loan_audio`) and not
        sent yet: returning it from `process()` sends it without a copy."""
        return bool(self._loan)

    @property
    def kind(self) -> str:
        """ "audio", "text", "json" or "bytes"."""
        return KIND_NAMES.get(self._kind, str(self._kind))

    @property
    def shm_address(self) -> Optional[int]:
        """Address of the shared-memory payload this frame was received in (None if built)."""
        return self._payload_address

    @property
    def shm_len(self) -> Optional[int]:
        """Length in bytes of the shared-memory payload (None if built by a node)."""
        return self._payload_len

    @property
    def view(self) -> memoryview:
        """Read-only zero-copy view of a received payload; valid only during `process()`."""
        if self._payload_address is None or self._payload_len is None:
            raise ValueError("view is only available on received frames")
        if self._released:
            raise ValueError("the shared-memory sample was released when process() returned")
        array = (ctypes.c_uint8 * self._payload_len).from_address(self._payload_address)
        return memoryview(array).cast("B").toreadonly()

    def encode(self) -> builtins.bytes:
        """The non-audio payload as UTF-8 / raw bytes, as it goes on the wire."""
        kind = self._kind
        if kind == KIND_TEXT:
            return str(self._value).encode("utf-8")
        if kind == KIND_JSON:
            return _json.dumps(self._value, separators=(",", ":")).encode("utf-8")
        if kind == KIND_BYTES:
            value = self._value
            return value if isinstance(value, bytes) else bytes(value)
        raise TypeError(f"encode() does not apply to {self.kind}")

    def __repr__(self) -> str:
        extra = f", sequence={self.sequence}" if self.sequence is not None else ""
        return f"RuntimeData({self.kind}, {self._value!r}, timestamp_ns={self.timestamp_ns}{extra})"
