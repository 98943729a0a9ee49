"""The host side of docs/PROTOCOL.md, for tests: creates a session's services with real
iceoryx2 shared memory, starts `python -m berth.runner` and talks to it."""

import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import iceoryx2 as iox2
import numpy as np

from berth.bell import Bell, Ringer
from berth.bell import folder as bell_folder
from berth.frame import (
    END_OF_STREAM,
    KIND_AUDIO,
    KIND_BYTES,
    KIND_CONTROL,
    KIND_JSON,
    KIND_TEXT,
    FrameHeader,
    monotonic_ns,
)

RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT_PATH = "/dev/shm/iceoryx2"
QUEUE_DEPTH = 32
MAX_FRAME_BYTES = 1 << 20


@dataclass
class Frame:
    kind: int
    flags: int
    sequence: int
    timestamp_ns: int
    sample_rate: int
    channels: int
    payload_len: int
    payload: bytes

    @property
    def eos(self) -> bool:
        return bool(self.flags & END_OF_STREAM)

    def samples(self) -> np.ndarray:
        return np.frombuffer(self.payload, dtype=np.float32)

    def text(self) -> str:
        return self.payload.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.payload.decode("utf-8"))


class Channel:
    """One pub-sub service + event service of the same name (or, with `bells`, the folder of
    the channel's doorbells), created like the host does."""

    def __init__(self, node: Any, name: str, queue_depth: int, bells: Optional[str] = None) -> None:
        self.name = name
        self.bells = bells
        service_name = iox2.ServiceName.new(name)
        self.service = (
            node.service_builder(service_name)
            .publish_subscribe(iox2.Slice[ctypes.c_uint8])
            .user_header(FrameHeader)
            .payload_alignment(iox2.Alignment.new(8))
            .enable_safe_overflow(False)
            .subscriber_max_buffer_size(queue_depth)
            .max_subscribers(8)
            .max_publishers(2)
            .create()
        )
        self.event: Any = None
        if bells:
            os.makedirs(bells, mode=0o700, exist_ok=True)
        else:
            self.event = node.service_builder(service_name).event().create()
        self.publisher: Any = None
        self.notifier: Any = None
        self.ringer: Optional[Ringer] = None
        self.subscriber: Any = None
        self.listener: Any = None
        self.bell: Optional[Bell] = None
        self.sequence = 0

    def writer(self, max_frame_bytes: int) -> "Channel":
        self.publisher = (
            self.service.publisher_builder()
            .initial_max_slice_len(max_frame_bytes)
            .allocation_strategy(iox2.AllocationStrategy.PowerOfTwo)
            .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
            .create()
        )
        if self.bells:
            self.ringer = Ringer(self.bells)
        else:
            self.notifier = self.event.notifier_builder().create()
        return self

    def reader(self) -> "Channel":
        if self.bells:
            self.bell = Bell(self.bells)
        self.subscriber = self.service.subscriber_builder().create()
        if not self.bells:
            self.listener = self.event.listener_builder().create()
        self.subscriber.has_samples()  # attach to existing writers (PROTOCOL.md)
        return self

    def send(
        self,
        kind: int,
        payload: bytes,
        *,
        flags: int = 0,
        sample_rate: int = 0,
        channels: int = 0,
        timestamp_ns: Optional[int] = None,
        sequence: Optional[int] = None,
    ) -> int:
        seq = self.sequence if sequence is None else sequence
        sample = self.publisher.loan_slice_uninit(len(payload))
        header = FrameHeader.from_address(sample.user_header_ptr)
        header.kind = kind
        header.flags = flags
        header.sequence = seq
        header.timestamp_ns = monotonic_ns() if timestamp_ns is None else timestamp_ns
        header.sample_rate = sample_rate
        header.channels = channels
        header.payload_len = len(payload)
        if payload:
            ctypes.memmove(sample.payload_ptr, payload, len(payload))
        sample.assume_init().send()
        if self.ringer is not None:
            self.ringer.ring()
        else:
            self.notifier.notify()
        self.sequence = seq + 1
        return seq

    def try_receive(self) -> Optional[Frame]:
        sample = self.subscriber.receive()
        if sample is None:
            return None
        try:
            h = FrameHeader.from_address(sample.user_header_ptr)
            n = sample.header.number_of_elements
            payload = ctypes.string_at(sample.payload_ptr, n) if n else b""
            return Frame(
                h.kind,
                h.flags,
                h.sequence,
                h.timestamp_ns,
                h.sample_rate,
                h.channels,
                h.payload_len,
                payload,
            )
        finally:
            sample.delete()

    def receive(self, timeout: float = 10.0) -> Frame:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.try_receive()
            if frame is not None:
                return frame
            if time.monotonic() > deadline:
                raise TimeoutError(f"no frame on {self.name} within {timeout} s")
            self.wait(5)

    def wait(self, timeout_ms: int) -> None:
        """Sleeps until the next wake-up, at most `timeout_ms`."""
        if self.bell is not None:
            self.bell.wait(timeout_ms / 1000)
        else:
            self.listener.timed_wait(iox2.Duration.from_millis(timeout_ms))

    def close(self) -> None:
        for port in (self.listener, self.subscriber, self.notifier, self.publisher):
            if port is not None:
                port.delete()
        for end in (self.bell, self.ringer):
            if end is not None:
                end.close()
        self.listener = self.subscriber = self.notifier = self.publisher = None
        self.bell = self.ringer = None
        self.service = self.event = None


class Host:
    """A session with one node `node_id`: its input (written by the test), output and control
    channels, plus optional extra upstream channels the node also reads."""

    def __init__(
        self,
        node_id: str = "node",
        *,
        extra_inputs: Sequence[str] = (),
        queue_depth: int = QUEUE_DEPTH,
        max_frame_bytes: int = MAX_FRAME_BYTES,
        log_dir: Optional[str] = None,
        doorbell: str = "event",
    ) -> None:
        self.session = secrets.token_hex(4)
        self.prefix = f"berth_{self.session}_"
        self.doorbell = doorbell
        self.node_id = node_id
        self.max_frame_bytes = max_frame_bytes
        self.log_path = os.path.join(log_dir or "/tmp", f"berth-runner-{self.session}.log")
        config = iox2.config.default()
        config.global_cfg.prefix = iox2.FileName.new(self.prefix)
        config.global_cfg.root_path = iox2.Path.new(ROOT_PATH)
        self.iox_node: Any = (
            iox2.NodeBuilder.new()
            .name(iox2.NodeName.new("berth-host-test"))
            .config(config)
            .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
            .create(iox2.ServiceType.Ipc)
        )
        s = self.session

        def channel(name: str) -> Channel:
            bells = bell_folder(ROOT_PATH, self.prefix, name) if doorbell == "fifo" else None
            return Channel(self.iox_node, name, queue_depth, bells)

        self.input = channel(f"{s}_{node_id}_input").writer(max_frame_bytes)
        self.extra = [channel(f"{s}_{up}_output").writer(max_frame_bytes) for up in extra_inputs]
        self.output = channel(f"{s}_{node_id}_output").reader()
        self.control = channel(f"{s}_{node_id}_control").reader()
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.messages: List[Dict[str, Any]] = []

    # -- runner process -----------------------------------------------------------------------

    def spec(self, node_type: str, **extra: Any) -> Dict[str, Any]:
        s = self.session
        spec: Dict[str, Any] = {
            "session_id": s,
            "node_id": self.node_id,
            "node_type": node_type,
            "params": {},
            "inputs": [self.input.name] + [c.name for c in self.extra],
            "output": self.output.name,
            "control": self.control.name,
            "iceoryx2_prefix": self.prefix,
            "iceoryx2_root": ROOT_PATH,
            "iceoryx2_doorbell": self.doorbell,
            "node_dirs": [],
            "spin_us": 50,
            "max_frame_bytes": self.max_frame_bytes,
        }
        spec.update(extra)
        return spec

    def start(
        self,
        node_type: str,
        *,
        via_env: bool = False,
        cpus: Optional[Sequence[int]] = None,
        env: Optional[Dict[str, str]] = None,
        **extra: Any,
    ) -> None:
        """Starts the runner; `cpus` pins it to those CPUs, `env` adds to its environment."""
        spec = json.dumps(self.spec(node_type, **extra))
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (RUNNER_DIR, env.get("PYTHONPATH")) if p)
        args = [sys.executable, "-m", "berth.runner"]
        if via_env:
            env["BERTH_NODE_SPEC"] = spec
        else:
            args += ["--spec", spec]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                args,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, set(cpus))) if cpus else None,
            )

    def logs(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_exit(self, timeout: float = 20.0) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"runner did not exit; log:\n{self.logs()}") from None

    def terminate(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    # -- control channel ----------------------------------------------------------------------

    def next_control(self, timeout: float = 20.0) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.control.try_receive()
            if frame is not None:
                assert frame.kind == KIND_CONTROL, frame
                message: Dict[str, Any] = frame.json()
                self.messages.append(message)
                return message
            if time.monotonic() > deadline:
                raise AssertionError(f"no control message within {timeout} s; log:\n{self.logs()}")
            if self.proc is not None and self.proc.poll() is not None:
                # The runner exited: take what it sent before giving up.
                frame = self.control.try_receive()
                if frame is None:
                    raise AssertionError(
                        f"runner exited ({self.proc.returncode}) with no further control "
                        f"message; log:\n{self.logs()}"
                    )
                self.messages.append(frame.json())
                return self.messages[-1]
            self.control.wait(10)

    def wait_control(self, kind: str, timeout: float = 20.0) -> Dict[str, Any]:
        while True:
            message = self.next_control(timeout)
            if message["type"] == kind:
                return message

    def drain_control(self) -> List[Dict[str, Any]]:
        while True:
            frame = self.control.try_receive()
            if frame is None:
                return self.messages
            self.messages.append(frame.json())

    def wait_ready(self, timeout: float = 30.0) -> Dict[str, Any]:
        message = self.next_control(timeout)
        assert message["type"] == "ready", f"{message}\nlog:\n{self.logs()}"
        return message

    # -- data ---------------------------------------------------------------------------------

    def send_audio(
        self, samples: np.ndarray, sample_rate: int = 48000, channels: int = 1, **kw: Any
    ) -> int:
        data = np.ascontiguousarray(samples, dtype=np.float32).tobytes()
        return self.input.send(KIND_AUDIO, data, sample_rate=sample_rate, channels=channels, **kw)

    def send_text(self, text: str, **kw: Any) -> int:
        return self.input.send(KIND_TEXT, text.encode("utf-8"), **kw)

    def send_json(self, obj: Any, **kw: Any) -> int:
        return self.input.send(KIND_JSON, json.dumps(obj).encode("utf-8"), **kw)

    def send_bytes(self, data: bytes, **kw: Any) -> int:
        return self.input.send(KIND_BYTES, data, **kw)

    def send_eos(self, channel: Optional[Channel] = None) -> int:
        return (channel or self.input).send(KIND_CONTROL, b"", flags=END_OF_STREAM)

    def receive(self, timeout: float = 10.0) -> Frame:
        try:
            return self.output.receive(timeout)
        except TimeoutError:
            raise AssertionError(f"no output within {timeout} s; log:\n{self.logs()}") from None

    # -- teardown -----------------------------------------------------------------------------

    def close(self) -> None:
        killed = False
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            killed = True
        channels = [self.input, *self.extra, self.output, self.control]
        for channel in channels:
            channel.close()
        for channel in channels:  # as the host's session sweep does
            if channel.bells:
                shutil.rmtree(channel.bells, ignore_errors=True)
        if killed:
            self.iox_node.try_cleanup_dead_nodes()
        self.iox_node = None


PERSISTENT_SUFFIX = ".global_mgmt"


def leftovers(prefix: str) -> List[str]:
    """Every /dev/shm segment and file under the iceoryx2 root whose name carries `prefix`."""
    found = [os.path.join("/dev/shm", n) for n in os.listdir("/dev/shm") if prefix in n]
    for root, dirs, files in os.walk(ROOT_PATH):
        found += [os.path.join(root, n) for n in dirs + files if prefix in n]
    return sorted(found)


def sweep_session(prefix: str) -> List[str]:
    """What the host's session sweep does after the last node of a session is gone.

    iceoryx2 keeps one small per-prefix segment (`<prefix>…node.<version>.global_mgmt`, a node
    counter) on purpose after all nodes are deleted; only that may remain. Returns the other
    leftovers (which indicate a leak) and removes the persistent segment.
    """
    remaining = leftovers(prefix)
    leaks = [p for p in remaining if not p.endswith(PERSISTENT_SUFFIX)]
    for path in remaining:
        if path.endswith(PERSISTENT_SUFFIX) and path.startswith("/dev/shm/"):
            os.unlink(path)
    return leaks
