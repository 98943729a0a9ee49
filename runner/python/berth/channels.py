"""iceoryx2 ports of one node runner.

The host creates every service; the runner only opens them (docs/PROTOCOL.md): each channel is
a pub-sub service (`[u8]` payload, `FrameHeader` user header, payload alignment 8, safe
overflow off) plus, to wake readers, either an event service of the same name or a doorbell
folder of named pipes (`bell.py`), as the spec's `iceoryx2_doorbell` says.

The runner's publishers use `AllocationStrategy.Static` with a fixed maximum slice length
(`max_frame_bytes` for the output). A reader maps a static data segment when it connects, so
frames sent just before the runner exits (the last audio, END_OF_STREAM, `stopped`) stay
readable after the runner's publisher is gone. With a growing strategy (`PowerOfTwo`) a reader
maps segments only when it receives from them, and a frame still queued when the runner exits
is lost ("Lost chunk" in the iceoryx2 log). The cost: a frame larger than `max_frame_bytes`
cannot be sent (the runner reports it as an `error`).

Backpressure is bounded (PROTOCOL.md): the runner's publishers discard rather than retry inside
iceoryx2 (the bindings' `RetryUntilDelivered` retries without bound, holding the GIL, so no
watchdog could run). A send that reached none of the readers is sent again from the same bytes,
sleeping between tries, until `send_timeout_ms`; then it raises `OutputBlocked`, which ends the
runner with a `fatal` naming the channel. A send that reached only some readers (fan-out, one of
them full) is not repeated, so the others do not see it twice: the one that missed it sees a gap
in the frame numbers and reports the frame lost.
"""

import ctypes
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

import iceoryx2 as iox2
import numpy as np

from .bell import Bell, Ringer
from .bell import folder as bell_folder
from .frame import (
    END_OF_STREAM,
    HEADER_LAYOUT,
    KIND_AUDIO,
    KIND_CONTROL,
    FrameHeader,
    monotonic_ns,
)
from .spec import DEFAULT_SEND_TIMEOUT_MS

PAYLOAD_ALIGNMENT = 8
CONTROL_SLICE_LEN = 64 * 1024
"""Largest control message; longer tracebacks are shortened to fit."""

_u8 = ctypes.c_uint8
_f32 = np.dtype(np.float32)
_header_at = FrameHeader.from_address
_memmove = ctypes.memmove
_yield_cpu = os.sched_yield
_HEADER_BYTES = ctypes.sizeof(FrameHeader)
_HEADER_ARRAY = _u8 * _HEADER_BYTES
_pack_header = HEADER_LAYOUT.pack_into
MAX_TARGETS = 64
"""Payload and header views an output keeps (`float32_view`, `header_view`)."""

Loan = Tuple[Any, int, int]
"""A loaned sample with its header and payload addresses (read from the bindings once)."""

_ARRAY_TYPES: "dict[int, Any]" = {}
"""ctypes byte-array types by length, for the few lengths a stream's frames have."""


def byte_array(length: int) -> Any:
    """The ctypes type of `length` bytes (`c_uint8 * length`), from a small cache: ctypes
    builds its key and looks the type up on every `*` (~200 ns), a dict of lengths much less.
    Bounded, since text and bytes frames come in any length."""
    array = _ARRAY_TYPES.get(length)
    if array is None:
        if len(_ARRAY_TYPES) >= 64:
            _ARRAY_TYPES.clear()
        array = _ARRAY_TYPES[length] = _u8 * length
    return array


V = TypeVar("V")


def _keep(views: Dict[int, V], address: int, view: V, limit: int) -> V:
    """`view` kept in `views` by `address` for the next frame there (iceoryx2 hands out a
    port's few chunks again and again); beyond `limit` the oldest goes."""
    views.pop(address, None)
    if len(views) >= limit:
        del views[next(iter(views))]
    views[address] = view
    return view


def float32_view(address: int, nbytes: int, views: Dict[int, np.ndarray], limit: int) -> np.ndarray:
    """A float32 array over the `nbytes` at `address`, kept in `views` (`_keep`). The caller
    checks a kept view's `nbytes` against the frame's."""
    view = np.frombuffer(byte_array(nbytes).from_address(address), _f32)
    return _keep(views, address, view, limit)


def header_view(address: int, views: Dict[int, memoryview], limit: int) -> memoryview:
    """A writable byte view of the frame header at `address`, for `HEADER_LAYOUT`'s one-call
    pack and unpack, kept in `views` (`_keep`)."""
    view = memoryview(_HEADER_ARRAY.from_address(address)).cast("B")
    return _keep(views, address, view, limit)


_RETRY_PAUSE_S = (0.00005, 0.0002, 0.001)
"""Pauses between the tries of a send no reader took: short first, then 1 ms (GIL released)."""


class OutputBlocked(RuntimeError):
    """No reader took a frame for `send_timeout_ms`: the node downstream is not reading."""


# The public `loan_slice_uninit()` / `assume_init()` of the iceoryx2 0.10 bindings are Python
# wrappers that re-check the payload type with `typing.get_origin` on every call (about 8 us a
# frame together). The type is fixed here (`Slice[c_uint8]`), so the native methods they wrap
# are called directly when present.
_assume_init: Any = (
    getattr(iox2.SampleMutUninit, "__assume_init", None) or iox2.SampleMutUninit.assume_init
)


def make_config(prefix: str, root_path: Optional[str]) -> Any:
    """An iceoryx2 config with the session's prefix and root path."""
    config = iox2.config.default()
    global_cfg = config.global_cfg  # a live reference: setting its fields updates `config`
    global_cfg.prefix = iox2.FileName.new(prefix)
    if root_path:
        global_cfg.root_path = iox2.Path.new(root_path)
    return config


class InputPort:
    """A subscriber on one input channel, and what it sleeps on: a doorbell of its own in
    `bells` (a folder), else a listener on the `event` service."""

    __slots__ = (
        "name",
        "service",
        "event",
        "subscriber",
        "listener",
        "bell",
        "expected",
        "eos",
        "_timeout",
    )

    def __init__(self, name: str, service: Any, event: Any, bells: Optional[str] = None) -> None:
        self.name = name
        self.service = service
        self.event = event
        # The bell comes before the subscriber: a writer that reached this reader finds it.
        self.bell: Optional[Bell] = Bell(bells) if bells else None
        self.subscriber = service.subscriber_builder().create()
        self.listener: Any = event.listener_builder().create() if event is not None else None
        # Attach to the existing writers now (PROTOCOL.md): a reader connects on its first
        # has_samples()/receive(), and until then a writer's backpressure cannot hold for it.
        self.subscriber.has_samples()
        # The next sequence number expected from the writer; unknown until the first frame, so
        # a runner that was restarted mid-stream does not mistake the frames before it for lost.
        self.expected: Optional[int] = None
        self.eos = False
        #: The latest wait's timeout, in ms and as the bindings' `Duration` (made once).
        self._timeout: Tuple[int, Any] = (-1, None)

    def wait(self, timeout_ms: int) -> None:
        """Sleeps until the next ring, at most `timeout_ms` (GIL released). Returns at once
        when a ring is pending, even one for a frame already taken."""
        if self.bell is not None:
            self.bell.wait(timeout_ms / 1000)
            return
        ms, duration = self._timeout
        if ms != timeout_ms:
            duration = iox2.Duration.from_millis(timeout_ms)
            self._timeout = (timeout_ms, duration)
        self.listener.timed_wait(duration)

    def clear(self) -> None:
        """Takes the pending rings without waiting; look for frames after this, not before."""
        if self.bell is not None:
            self.bell.clear()
        else:
            self.listener.try_wait()

    def close(self) -> None:
        for port in (self.listener, self.subscriber):
            if port is not None:
                port.delete()
        if self.bell is not None:
            self.bell.close()
        self.listener = self.subscriber = self.service = self.event = self.bell = None


class OutputPort:
    """A publisher that numbers frames 0, 1, 2, ... and, after every send, rings its readers'
    doorbells in `bells` (a folder), else notifies the `event` service."""

    __slots__ = (
        "name",
        "service",
        "event",
        "publisher",
        "notifier",
        "ringer",
        "ring",
        "sequence",
        "max_bytes",
        "send_timeout_ns",
        "readers",
        "partial",
        "waits",
        "_loan_raw",
        "_targets",
        "_headers",
    )

    def __init__(
        self,
        name: str,
        service: Any,
        event: Any,
        max_slice_len: int,
        send_timeout_ms: int = DEFAULT_SEND_TIMEOUT_MS,
        bells: Optional[str] = None,
    ) -> None:
        self.name = name
        self.service = service
        self.event = event
        self.max_bytes = max_slice_len
        self.send_timeout_ns = send_timeout_ms * 1_000_000
        self.publisher = (
            service.publisher_builder()
            .initial_max_slice_len(max_slice_len)
            .allocation_strategy(iox2.AllocationStrategy.Static)
            .backpressure_strategy(iox2.BackpressureStrategy.DiscardData)
            .create()
        )
        #: Readers connected at the latest look (looked at again whenever a send reaches fewer).
        self.readers = self._count_readers()
        #: Sends that reached some readers but not all (each missed reader reports the loss).
        self.partial = 0
        #: Sends that found every reader's queue full and waited for room.
        self.waits = 0
        self.ringer: Optional[Ringer] = Ringer(bells) if bells else None
        self.notifier: Any = event.notifier_builder().create() if event is not None else None
        #: Wakes the readers: the doorbells' ring, else the event's notify (chosen once, as
        #: every frame calls it).
        notifier: Any = self.notifier
        self.ring: Callable[[], Any] = self.ringer.ring if self.ringer else notifier.notify
        self.sequence = 0
        #: Writable float32 views of loaned payloads, by address (the publisher's few chunks
        #: come back again and again), so a send finds its target made.
        self._targets: Dict[int, np.ndarray] = {}
        #: Byte views of loaned headers, by address, likewise.
        self._headers: Dict[int, memoryview] = {}
        self._loan_raw = (
            getattr(self.publisher, "__loan_slice_uninit", None) or self.publisher.loan_slice_uninit
        )

    def _loan(
        self,
        nbytes: int,
        kind: int,
        flags: int,
        timestamp_ns: int,
        sample_rate: int = 0,
        channels: int = 0,
    ) -> Loan:
        """A sample of `nbytes` with its header written, and its addresses."""
        if nbytes > self.max_bytes:
            raise ValueError(
                f"frame of {nbytes} bytes exceeds the {self.max_bytes} byte maximum of {self.name}"
            )
        sample = self._loan_raw(nbytes)
        header_ptr = sample.user_header_ptr
        header = self._headers.get(header_ptr)
        if header is None:
            header = header_view(header_ptr, self._headers, MAX_TARGETS)
        _pack_header(
            header, 0, kind, flags, self.sequence, timestamp_ns, sample_rate, channels, nbytes
        )
        return sample, header_ptr, sample.payload_ptr

    def _count_readers(self) -> int:
        return int(self.service.dynamic_config.number_of_subscribers)

    def _send(self, sample: Any, header_ptr: int, payload_ptr: int) -> None:
        """Sends `sample` (whose header and payload are at `header_ptr` and `payload_ptr`)."""
        delivered = _assume_init(sample).send()
        if delivered < self.readers or delivered == 0:
            self._undelivered(delivered, header_ptr, payload_ptr)
        elif delivered > self.readers:  # a reader connected since the last look
            self.readers = delivered
        self.sequence += 1
        # The frame is visible now. A reader polling on this CPU (the host waiting for the
        # reply, the next node of a chain) runs before the notify and the rest of this frame's
        # tail; with nothing else to run here the yield returns at once.
        _yield_cpu()
        self.ring()

    def _undelivered(self, delivered: int, header_ptr: int, payload_ptr: int) -> None:
        """A send reached fewer readers than are connected: sends it again while it reached
        none (until `send_timeout_ns`), counts it when it reached some."""
        readers = self.readers = self._count_readers()
        if delivered == 0 and readers:
            delivered = self._resend(header_ptr, payload_ptr)
        if 0 < delivered < self.readers:
            self.partial += 1
            if self.partial == 1 or self.partial % 100 == 0:
                print(
                    f"berth: frame {self.sequence} on {self.name} reached {delivered} of "
                    f"{self.readers} readers ({self.partial} such frames so far; the others "
                    "report it lost)",
                    file=sys.stderr,
                    flush=True,
                )

    def _resend(self, header_ptr: int, payload_ptr: int) -> int:
        """Sends the frame at `header_ptr`/`payload_ptr` again until a reader takes it.

        The bytes come from the sample that was just discarded: its chunk went back to this
        publisher's own pool, which only this publisher loans from (on this thread) and no
        reader writes, so until the next loan it still holds the frame. A new loan may be that
        same chunk; `memmove` then copies onto itself."""
        nbytes = _header_at(header_ptr).payload_len
        self.waits += 1
        started = time.monotonic_ns()
        tries = 0
        self.ring()  # a reader that sleeps with a full queue: drain it
        while True:
            pause = _RETRY_PAUSE_S[min(tries, len(_RETRY_PAUSE_S) - 1)]
            tries += 1
            time.sleep(pause)
            sample = self._loan_raw(nbytes)
            _memmove(sample.user_header_ptr, header_ptr, _HEADER_BYTES)
            if nbytes:
                _memmove(sample.payload_ptr, payload_ptr, nbytes)
            header_ptr, payload_ptr = sample.user_header_ptr, sample.payload_ptr
            delivered = int(_assume_init(sample).send())
            if delivered:
                return delivered
            self.readers = self._count_readers()
            if not self.readers:
                return 0
            waited = time.monotonic_ns() - started
            if waited >= self.send_timeout_ns:
                raise OutputBlocked(
                    f"no reader of {self.name} took frame {self.sequence} for "
                    f"{waited // 1_000_000} ms ({self.readers} connected, every queue full): "
                    "the node downstream is not reading; fix: make it keep up, or raise "
                    "TransportConfig::send_timeout"
                )
            self.ring()

    def send_audio(
        self, samples: np.ndarray, sample_rate: int, channels: int, timestamp_ns: int
    ) -> None:
        """Copy `samples` once, straight into a loaned shared-memory sample, and send it."""
        nbytes = samples.size * 4
        sample, header_ptr, payload_ptr = self._loan(
            nbytes, KIND_AUDIO, 0, timestamp_ns, sample_rate, channels
        )
        if nbytes:
            target = self._targets.get(payload_ptr)
            if target is None or target.nbytes != nbytes:
                target = float32_view(payload_ptr, nbytes, self._targets, MAX_TARGETS)
            if samples.ndim == 1:
                target[...] = samples  # one pass: a copy, or a conversion / gather
            else:
                target.reshape(samples.shape)[...] = samples
        self._send(sample, header_ptr, payload_ptr)

    def loan_audio(
        self, num_samples: int, sample_rate: int, channels: int
    ) -> Tuple[Loan, np.ndarray]:
        """A shared-memory sample for `num_samples` float32 values and a writable numpy view
        of its payload: what a node writes its output into in place (`send_loaned`)."""
        nbytes = num_samples * 4
        sample, header_ptr, payload_ptr = self._loan(
            nbytes, KIND_AUDIO, 0, 0, sample_rate, channels
        )
        if nbytes:
            view = np.frombuffer(byte_array(nbytes).from_address(payload_ptr), _f32)
        else:
            view = np.empty(0, _f32)
        return (sample, header_ptr, payload_ptr), view

    def send_loaned(self, loan: Loan, timestamp_ns: int) -> None:
        """Sends a loan from `loan_audio` as it is: no copy. Numbered when sent, so loans
        returned in any order still number the output 0, 1, 2, ..."""
        sample, header_ptr, payload_ptr = loan
        header = _header_at(header_ptr)
        header.sequence = self.sequence
        header.timestamp_ns = timestamp_ns
        self._send(sample, header_ptr, payload_ptr)

    def send_bytes(self, kind: int, payload: bytes, timestamp_ns: int, flags: int = 0) -> None:
        """Send an encoded text / json / bytes / control payload."""
        nbytes = len(payload)
        sample, header_ptr, payload_ptr = self._loan(nbytes, kind, flags, timestamp_ns)
        if nbytes:
            _memmove(payload_ptr, payload, nbytes)
        self._send(sample, header_ptr, payload_ptr)

    def send_end_of_stream(self, timestamp_ns: Optional[int] = None) -> None:
        """An empty control-kind frame flagged END_OF_STREAM."""
        ts = monotonic_ns() if timestamp_ns is None else timestamp_ns
        self.send_bytes(KIND_CONTROL, b"", ts, END_OF_STREAM)

    def close(self) -> None:
        for port in (self.notifier, self.publisher):
            if port is not None:
                port.delete()
        if self.ringer is not None:
            self.ringer.close()
        self.notifier = self.publisher = self.service = self.event = self._loan_raw = None
        self.ringer = None
        self._targets, self._headers = {}, {}


class Channels:
    """The iceoryx2 node and every port a runner uses."""

    def __init__(
        self,
        prefix: str,
        root_path: Optional[str],
        node_name: str,
        doorbell: str = "event",
    ) -> None:
        if doorbell == "fifo" and not root_path:
            raise ValueError("iceoryx2_doorbell 'fifo' needs iceoryx2_root (the bells live there)")
        self.prefix = prefix
        self.root_path = root_path
        self.fifo = doorbell == "fifo"
        self.config = make_config(prefix, root_path)
        self.node: Any = (
            iox2.NodeBuilder.new()
            .name(iox2.NodeName.new(node_name))
            .config(self.config)
            .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
            .create(iox2.ServiceType.Ipc)
        )
        self.inputs: List[InputPort] = []
        self.output: Optional[OutputPort] = None
        self.control: Optional[OutputPort] = None

    def _bells(self, name: str) -> Optional[str]:
        """The doorbell folder of channel `name`, when this session rings doorbells."""
        if not self.fifo:
            return None
        assert self.root_path is not None
        return bell_folder(self.root_path, self.prefix, name)

    def _open(self, name: str) -> "tuple[Any, Any]":
        service_name = iox2.ServiceName.new(name)
        try:
            service = (
                self.node.service_builder(service_name)
                .publish_subscribe(iox2.Slice[ctypes.c_uint8])
                .user_header(FrameHeader)
                .payload_alignment(iox2.Alignment.new(PAYLOAD_ALIGNMENT))
                .enable_safe_overflow(False)
                .open()
            )
        except Exception as exc:
            raise RuntimeError(f"cannot open pub-sub service {name!r}: {exc!r}") from exc
        if self.fifo:
            return service, None
        try:
            event = self.node.service_builder(service_name).event().open()
        except Exception as exc:
            raise RuntimeError(f"cannot open event service {name!r}: {exc!r}") from exc
        return service, event

    def open_input(self, name: str) -> InputPort:
        service, event = self._open(name)
        port = InputPort(name, service, event, self._bells(name))
        self.inputs.append(port)
        return port

    def open_output(
        self, name: str, max_frame_bytes: int, send_timeout_ms: int = DEFAULT_SEND_TIMEOUT_MS
    ) -> OutputPort:
        service, event = self._open(name)
        self.output = OutputPort(
            name, service, event, max_frame_bytes, send_timeout_ms, self._bells(name)
        )
        return self.output

    def open_control(self, name: str, send_timeout_ms: int = DEFAULT_SEND_TIMEOUT_MS) -> OutputPort:
        service, event = self._open(name)
        self.control = OutputPort(
            name, service, event, CONTROL_SLICE_LEN, send_timeout_ms, self._bells(name)
        )
        return self.control

    def close(self) -> None:
        """Delete every port, then the node (removes the runner's files and segments)."""
        for port in self.inputs:
            port.close()
        self.inputs = []
        for out in (self.output, self.control):
            if out is not None:
                out.close()
        self.output = self.control = None
        self.node = None
