"""`python -m berth.runner --spec '<json>'`: runs one node against the host (docs/PROTOCOL.md).

The spec may also come from the `BERTH_NODE_SPEC` environment variable. Exit codes: 0 after a
clean stop (END_OF_STREAM on every input, or SIGTERM/SIGINT), 1 after a fatal error.
"""

import argparse
import json
import os
import platform
import signal
import sys
import threading
import time
import traceback
from inspect import CO_ASYNC_GENERATOR, CO_COROUTINE
from time import perf_counter_ns
from types import CoroutineType, FrameType, GeneratorType
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional

import iceoryx2 as iox2
import numpy as np

from . import __version__
from .bell import wait_any
from .channels import (
    Channels,
    InputPort,
    OutputBlocked,
    OutputPort,
    byte_array,
    float32_view,
    header_view,
)
from .data import Audio, RuntimeData
from .frame import (
    END_OF_STREAM,
    HEADER_LAYOUT,
    KIND_AUDIO,
    KIND_BYTES,
    KIND_CONTROL,
    KIND_JSON,
    KIND_TEXT,
    monotonic_ns,
)
from .loader import find_node_class
from .node import Node
from .owner import ENV_OWNER_LOCK, watch_owner
from .spec import NodeSpec, SpecError
from .steps import FOUND_POLLING, FOUND_WOKEN, FOUND_WOKEN_AHEAD, StepTrace

if TYPE_CHECKING:
    from .aio import CoroutineDriver

WAIT_TIMEOUT_MS = 100
"""Longest blocking wait, so a stop request is seen promptly even without a wake-up."""

RECENT_CALLS = 1024
"""How many of the latest `process()` durations the `stats` percentiles cover."""

_f32 = np.dtype(np.float32)
MAX_VIEWS = 64
"""Received payload and header views a runner keeps (`Runner._view_at`, `header_view`)."""
_unpack_header = HEADER_LAYOUT.unpack_from
_received = RuntimeData._received

_EMPTY_AUDIO = np.empty(0, dtype=np.float32)
_EMPTY_AUDIO.flags.writeable = False

PROMISE_NS = 150_000
"""How far ahead a polling runner promises its writers to look again (`bell.py`)."""


def _iceoryx2_version() -> str:
    """The installed iceoryx2's version, from the name of its `dist-info` folder beside the
    package: one directory listing, where `importlib.metadata` costs 30-50 ms of CPU at every
    start (BENCHMARKS.md, Startup)."""
    prefix, suffix = "iceoryx2-", ".dist-info"
    try:
        site = os.path.dirname(os.path.dirname(os.path.abspath(iox2.__file__ or "")))
        for entry in os.listdir(site):
            if entry.startswith(prefix) and entry.endswith(suffix):
                return entry[len(prefix) : -len(suffix)]
    except OSError:
        pass
    return "unknown"


def ready_message() -> Dict[str, Any]:
    """The `ready` control message: who is running, on what."""
    return {
        "type": "ready",
        "pid": os.getpid(),
        "python": platform.python_version(),
        "iceoryx2": _iceoryx2_version(),
        "berth": __version__,
        # CPU time of the thread that will run the node, so far (imports, `initialize()`):
        # the host's baseline for the `stats` that follow.
        "cpu_ns": time.thread_time_ns(),
    }


class StopFlag:
    """Set from the SIGTERM/SIGINT handler; the receive loop checks it between frames."""

    def __init__(self) -> None:
        self.requested = False
        self.signum: Optional[int] = None

    def request(self) -> None:
        """Asks the receive loop to stop, as a signal would (from any thread)."""
        self.requested = True

    def install(self) -> None:
        def handler(signum: int, frame: Optional[FrameType]) -> None:
            self.requested = True
            self.signum = signum

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)


class Runner:
    """Opens the node's channels, runs the node, and speaks the control protocol."""

    def __init__(self, spec: NodeSpec, stop: Optional[StopFlag] = None) -> None:
        self.spec = spec
        self.stop = stop or StopFlag()
        self._driver: Optional[CoroutineDriver] = None
        self.channels: Optional[Channels] = None
        self.control: Optional[OutputPort] = None
        self.output: Optional[OutputPort] = None
        self.inputs: List[InputPort] = []
        self.node: Optional[Node] = None
        self.processed = 0
        self.errors = 0
        #: Frames found by polling ahead of their due time (`anticipate_us`), not by a wake-up.
        self.anticipated = 0
        self._inputs_ended = 0
        #: `monotonic_ns()` when `process()` began on the current frame; 0 between frames.
        self.busy_since = 0
        self.busy_sequence = -1
        self._watched = spec.timeout_ms > 0
        #: Wall time of the latest `process()` calls (decode to publish), a ring.
        self._durations = [0] * RECENT_CALLS
        self._calls = 0
        self._busy_ns = 0
        self._stats_every_ns = max(spec.stats_interval_ms, 1) * 1_000_000
        self._stats_due = perf_counter_ns() + self._stats_every_ns
        self._closed = False
        self._last_bytes = 0
        #: Read-only float32 views of received payloads, by address: iceoryx2 hands out the
        #: same few chunks again and again, so a frame usually finds its view made.
        self._views: Dict[int, np.ndarray] = {}
        #: Byte views of received headers, by address, likewise.
        self._headers: Dict[int, memoryview] = {}
        self._watchdog_stop = threading.Event()
        #: When the frame being handled was taken from its input.
        self._found_ns = 0
        #: How the runner came to the current frame, for the step trace: `FOUND_POLLING`,
        #: `FOUND_WOKEN_AHEAD` or `FOUND_WOKEN`.
        self._found_how = FOUND_POLLING
        self._trace = StepTrace.from_env(spec.node_id)

    @property
    def driver(self) -> "CoroutineDriver":
        """Runs the node's coroutines; made at the first one, so a node that has none never
        imports asyncio (about 40 ms of a container's start)."""
        if self._driver is None:
            from .aio import CoroutineDriver

            self._driver = CoroutineDriver(inline=self.spec.coroutine_driver == "inline")
        return self._driver

    def _hook(self, name: str) -> None:
        """Runs the node's `initialize` or `cleanup` (awaited in the event loop when it is a
        coroutine); `Node`'s own, which does nothing, is not run."""
        if getattr(type(self.node), name) is getattr(Node, name):
            return
        result = getattr(self.node, name)()
        if result is not None and hasattr(result, "__await__"):
            self.driver.call(result)

    # -- logging and control messages -------------------------------------------------------

    def log(self, message: str) -> None:
        print(f"berth[{self.spec.node_id}] {message}", file=sys.stderr, flush=True)

    def send_control(self, message: Dict[str, Any]) -> None:
        if self.control is None:
            return
        try:
            payload = _encode_control(message, self.control.max_bytes)
            self.control.send_bytes(KIND_CONTROL, payload, monotonic_ns())
        except Exception as exc:
            self.log(f"could not send {message.get('type')} control message: {exc!r}")

    def fatal(self, stage: str, exc: BaseException, tb: str) -> None:
        self.log(f"fatal error during {stage}:\n{tb}")
        self.send_control(
            {"type": "fatal", "stage": stage, "error": _describe(exc), "traceback": tb}
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self) -> int:
        spec = self.spec
        try:
            self.channels = Channels(
                spec.iceoryx2_prefix,
                spec.iceoryx2_root,
                f"berth-{spec.node_id}",
                spec.iceoryx2_doorbell,
            )
            self.control = self.channels.open_control(spec.control, spec.send_timeout_ms)
        except Exception:
            self.log("cannot open the control channel:\n" + traceback.format_exc())
            self.close()
            return 1

        stage = "load"
        try:
            node_class = find_node_class(spec.node_type, spec.node_dirs, spec.module)
            self.log(f"loaded {node_class.__module__}.{node_class.__qualname__}")
            self.node = node_class(spec.params, node_id=spec.node_id)
            if _has_coroutines(node_class):
                _ = self.driver  # made now: its first frame need not import asyncio
            if not spec.inputs:
                raise ValueError("the node spec lists no inputs")
            self.inputs = [self.channels.open_input(name) for name in spec.inputs]
            self.output = self.channels.open_output(
                spec.output, spec.max_frame_bytes, spec.send_timeout_ms
            )
            # What `Node.loan_audio` loans from.
            self.node.__dict__["_berth_output"] = self.output
            stage = "initialize"
            self._hook("initialize")
            if spec.timeout_ms:
                self._start_watchdog(spec.timeout_ms)
            if spec.realtime_priority:
                # After `initialize` and the watchdog's start: the node's set-up and the
                # watchdog keep the ordinary policy; threads `process()` starts inherit it.
                stage = "realtime"
                make_realtime(spec.realtime_priority)
            stage = "run"
            self.send_control(ready_message())
            self.log(
                f"ready: inputs {spec.inputs} -> output {spec.output!r}, spin {spec.spin_us} us, "
                f"anticipate {spec.anticipate_us} us"
            )
            ended = self.receive_loop()
        except Exception as exc:
            self.fatal(stage, exc, traceback.format_exc())
            if stage == "run":
                self._cleanup_quietly()
            else:  # the host may not have connected to the control channel yet
                self.linger()
            self.close()
            return 1

        code = self.finish(end_of_stream=ended)
        self.close()
        return code

    def finish(self, end_of_stream: bool) -> int:
        """Clean stop: cleanup(), END_OF_STREAM downstream (after EOS), `stopped`."""
        assert self.node is not None
        reason = "end_of_stream" if end_of_stream else "signal"
        self.log(f"stopping ({reason}) after {self.processed} frames")
        failure = None
        try:
            self._hook("cleanup")
        except Exception as exc:
            failure = (exc, traceback.format_exc())
        # Before the end of stream goes downstream: a host that saw the pipeline's last end of
        # stream has every runner's final figures.
        self.send_stats()
        if end_of_stream and self.output is not None:
            try:
                self.output.send_end_of_stream()
            except Exception as exc:
                self.log(f"could not send END_OF_STREAM: {exc!r}")
        if failure is not None:
            self.fatal("cleanup", failure[0], failure[1])
            return 1
        self.send_control({"type": "stopped", "processed": self.processed, "reason": reason})
        if end_of_stream and self.output is not None and self.output.sequence <= 1:
            # END_OF_STREAM was the first frame on the output: a reader may not have
            # connected yet, so give it a moment before the segment goes away.
            self.linger()
        return 0

    def linger(self) -> None:
        """Keeps the ports open for `exit_linger_ms` (or until a signal) so a reader that has
        not connected yet can still take the last frames: a `fatal` before `ready`, or an
        END_OF_STREAM that is the first frame on the output."""
        deadline = monotonic_ns() + self.spec.exit_linger_ms * 1_000_000
        while not self.stop.requested and monotonic_ns() < deadline:
            time.sleep(0.01)

    def _cleanup_quietly(self) -> None:
        if self.node is None:
            return
        try:
            self._hook("cleanup")
        except Exception:
            self.log("cleanup() failed:\n" + traceback.format_exc())

    def _start_watchdog(self, timeout_ms: int) -> None:
        """A thread that ends the process when one `process()` call outlasts `timeout_ms`: a
        hung call cannot be interrupted from Python, so the host restarts the runner."""
        timeout_ns = timeout_ms * 1_000_000
        interval = min(max(timeout_ms / 4000, 0.005), 0.1)

        def watch() -> None:
            while not self._watchdog_stop.wait(interval):
                since = self.busy_since
                if since and monotonic_ns() - since > timeout_ns:
                    busy_ms = (monotonic_ns() - since) // 1_000_000
                    self.log(
                        f"process() has been busy with frame {self.busy_sequence} for "
                        f"{busy_ms} ms (timeout_ms {timeout_ms}); ending the runner"
                    )
                    self.send_control(
                        {
                            "type": "hung",
                            "sequence": self.busy_sequence,
                            "busy_ms": busy_ms,
                            "timeout_ms": timeout_ms,
                        }
                    )
                    os._exit(4)

        threading.Thread(target=watch, name="berth-watchdog", daemon=True).start()

    def close(self) -> None:
        """Closes every port and the event loop; safe to call again."""
        self._watchdog_stop.set()
        if self.channels is not None:
            self.channels.close()
            self.channels = None
        self.inputs, self.output, self.control = [], None, None
        if not self._closed:
            self._closed = True
            if self._driver is not None:
                self._driver.close()
            if self._trace is not None:
                try:
                    self._trace.write()
                except OSError as exc:
                    self.log(f"cannot write the step trace to {self._trace.path}: {exc}")

    # -- receiving ----------------------------------------------------------------------------

    def receive_loop(self) -> bool:
        """Runs until END_OF_STREAM on every input (True) or a stop request (False)."""
        if len(self.inputs) == 1:
            return self._receive_single(self.inputs[0])
        return self._receive_many(self.inputs)

    def _receive_single(self, port: InputPort) -> bool:
        receive = port.subscriber.receive
        wait = port.wait
        spin_ns = self.spec.spin_us * 1000
        pace = Pace(self.spec.anticipate_us * 1000)
        ahead = _WaitAhead(port) if pace.lead_ns else None
        slept_ahead = False
        warmed = False
        stop = self.stop
        handle = self.handle
        yield_cpu = os.sched_yield
        # While polling, the runner promises its writers to look again within `PROMISE_NS`
        # (`bell.py`), so they need not ring its bell; it never sleeps before the latest
        # promise has passed, and looks once more after it.
        promise = port.bell.promise if port.bell is not None else None
        promised = 0
        polled_from = 0  # when polling for the frame in hand began, if it was due
        how = FOUND_POLLING  # how the next frame is found (the step trace)
        try:
            while not stop.requested:
                sample = receive()
                if sample is None:
                    now = perf_counter_ns()
                    wake = pace.wake_at()
                    if wake and promised <= now < wake:
                        # Steadily paced: sleep until just before the next frame is due (a
                        # frame that comes sooner wakes the wait), then poll for it. A frame
                        # that came during a plain sleep waited for it.
                        slept_ahead = ahead.wait(wake - now, stop)  # type: ignore[union-attr]
                        how = FOUND_WOKEN_AHEAD if slept_ahead else FOUND_POLLING
                        continue
                    until = max(now + spin_ns, promised)
                    due_soon = wake and now >= wake  # polling for a paced frame, not a promise
                    if due_soon:
                        until = max(until, pace.poll_until())
                        if not warmed:
                            warmed = True
                            self._warm_frame_path()
                    slept_ahead = False  # a frame after this window was late, not early
                    how = FOUND_POLLING
                    # Polling gives the CPU to any other runnable thread at every look: on a
                    # busy machine (a chain of nodes, all due at once) the node that has the
                    # frame runs, not the ones still waiting for theirs.
                    if promise is None:
                        while sample is None and perf_counter_ns() < until:
                            yield_cpu()
                            sample = receive()
                    else:
                        while sample is None:
                            polled = perf_counter_ns()
                            if polled >= until:
                                sample = receive()  # the look after every promise
                                break
                            promised = min(polled + PROMISE_NS, until)
                            promise(promised)
                            yield_cpu()
                            sample = receive()
                    if sample is not None and due_soon:
                        polled_from = max(now, wake)
                    if sample is None:
                        if wake and now < wake:
                            continue  # a promise kept; now the sleep until the next frame
                        # Returns at once if a ring is pending (even one for a frame already
                        # taken while spinning); that costs one extra pass, not latency.
                        try:
                            wait(WAIT_TIMEOUT_MS)
                        except iox2.ListenerWaitError:
                            _pause_after_wait_error(stop)
                        how = FOUND_WOKEN
                        continue
                elif slept_ahead:
                    pace.missed()
                slept_ahead = False
                warmed = False
                # Between finding a frame and calling `process()` is latency: the pace's
                # bookkeeping waits until the frame is handled (cold code costs microseconds
                # on a paced frame; BENCHMARKS.md, "Waiting").
                self._found_ns = arrived = perf_counter_ns()
                self._found_how = how
                how = FOUND_POLLING
                ended = handle(port, sample)
                if polled_from:
                    if arrived <= pace.poll_until():  # caught while polling for it
                        self.anticipated += 1
                        pace.caught(arrived, polled_from)
                    polled_from = 0
                pace.arrived(arrived)
                if ended:
                    return True
            return False
        finally:
            if ahead is not None:
                ahead.close()

    def _warm_frame_path(self) -> None:
        """Runs the runner's own steps of a frame once, on no frame, as the polling for a paced
        frame begins: loans an output sample of the last frame's size (its header written and
        read), views it as a read-only array wrapped as received data, and gives it back unsent
        (the output's numbering is untouched). On a VM, code and data a thread last touched
        20 ms ago are cold, and this moves the cold misses ahead of the frame (BENCHMARKS.md,
        "Waiting")."""
        output = self.output
        nbytes = self._last_bytes & ~3  # whole float32 values
        if output is None or not nbytes or nbytes > output.max_bytes:
            return
        try:
            sample, header_ptr, payload_ptr = output._loan(nbytes, KIND_AUDIO, 0, 0)
        except Exception as exc:  # no loan to spare: the frame still gets its own
            self._last_bytes = 0
            self.log(f"cannot warm the frame path ({exc!r}); going on without")
            return
        _unpack_header(output._headers[header_ptr])
        samples = np.frombuffer(byte_array(nbytes).from_address(payload_ptr), _f32)
        samples.setflags(write=False)
        RuntimeData._received(KIND_AUDIO, Audio(samples, 0, 1), 0, 0, "", 0, 0)
        del samples
        sample.delete()

    def _receive_many(self, ports: List[InputPort]) -> bool:
        rings = _Rings(ports)
        spin_ns = self.spec.spin_us * 1000
        stop = self.stop
        try:
            while not stop.requested:
                got = False
                for port in ports:  # one frame per input per round
                    sample = port.subscriber.receive()
                    if sample is not None:
                        got = True
                        self._found_ns = perf_counter_ns()
                        if self.handle(port, sample):
                            return True
                self._found_how = FOUND_POLLING
                if got:
                    continue
                if spin_ns and self._spin_many(ports, spin_ns):
                    continue
                for port in ports:  # take the rings, then look once more before blocking
                    port.clear()
                if any(port.subscriber.has_samples() for port in ports):
                    continue
                try:
                    rings.wait(WAIT_TIMEOUT_MS * 1_000_000)
                except Exception:
                    _pause_after_wait_error(stop)
                self._found_how = FOUND_WOKEN
        finally:
            rings.close()
        return False

    def _spin_many(self, ports: List[InputPort], spin_ns: int) -> bool:
        deadline = perf_counter_ns() + spin_ns
        yield_cpu = os.sched_yield
        while perf_counter_ns() < deadline:
            yield_cpu()  # as in `_receive_single`: a thread with work runs first
            for port in ports:
                if port.subscriber.has_samples():
                    return True
        return False

    def handle(self, port: InputPort, sample: Any) -> bool:
        """Processes one received sample; True once every input has ended."""
        header_ptr = sample.user_header_ptr
        header = self._headers.get(header_ptr)
        if header is None:
            header = header_view(header_ptr, self._headers, MAX_VIEWS)
        kind, flags, sequence, timestamp_ns, sample_rate, channels, _ = _unpack_header(header)
        if sequence != port.expected:
            self._out_of_order(port, sequence)
        port.expected = sequence + 1
        if flags & END_OF_STREAM:
            sample.delete()
            return self._ended(port)
        data: Optional[RuntimeData] = None
        trace = self._trace
        started = called = returned = perf_counter_ns()
        try:
            length = sample.header.number_of_elements  # the iceoryx2 slice length, in bytes
            address = sample.payload_ptr
            self._last_bytes = length
            if kind == KIND_AUDIO:
                samples = self._views.get(address) if length else _EMPTY_AUDIO
                if samples is None or samples.nbytes != length:
                    samples = self._view_at(address, length)
                value: Any = Audio(samples, sample_rate, channels or 1)
            else:
                value = _decode(kind, address, length, port.name)
            data = _received(kind, value, timestamp_ns, sequence, port.name, address, length)
            self.processed += 1
            if self._watched:
                self.busy_sequence = sequence
                self.busy_since = monotonic_ns()
            if trace is not None:
                called = perf_counter_ns()
            result = self.node.process(data)  # type: ignore[union-attr]
            if type(result) is CoroutineType:
                result = self.driver.run(result)
            if trace is not None:
                returned = perf_counter_ns()
            # Sending is bounded by `send_timeout_ms` (OutputBlocked), not the watchdog.
            self.busy_since = 0
            if type(result) is RuntimeData:
                self.publish(result, data)
            elif result is not None:
                self.emit(result, data)
        except OutputBlocked:
            raise  # not this frame's fault: the runner stops with a `fatal`
        except Exception as exc:
            self._report_error(sequence, exc)
        finally:
            self.busy_since = 0
            if data is not None:
                data._released = True
            sample.delete()
            ended = perf_counter_ns()
            if trace is not None and data is not None:
                found = self._found_ns or started
                trace.frame(data.timestamp_ns or 0, found, called, returned, ended, self._found_how)
            calls = self._calls
            self._durations[calls % RECENT_CALLS] = ended - started
            self._calls = calls + 1
            self._busy_ns += ended - started
            if ended >= self._stats_due:
                self._stats_due = ended + self._stats_every_ns
                self.send_stats()
        return False

    def _out_of_order(self, port: InputPort, sequence: int) -> None:
        """A frame numbered other than the next expected: frames were lost before it, or its
        writer was restarted; the first frame of an input expects nothing."""
        expected = port.expected
        if expected is None:
            return
        if sequence > expected:
            self._report_lost(port, sequence)
        else:  # its writer was restarted and numbers from 0 again
            self.log(f"{port.name} starts again at frame {sequence} (after {expected - 1})")

    def _ended(self, port: InputPort) -> bool:
        """END_OF_STREAM on `port`; True once every input has ended."""
        if not port.eos:
            port.eos = True
            self._inputs_ended += 1
            self.log(f"END_OF_STREAM on {port.name}")
        return self._inputs_ended >= len(self.inputs)

    def stats_message(self) -> Dict[str, Any]:
        """The `stats` control message: frames, this thread's CPU time (a shared runner's
        instance runs on a thread of its own, so this is its session's share of the
        container), and the wall time of recent `process()` calls."""
        recent = sorted(self._durations[: min(self._calls, RECENT_CALLS)])
        count = len(recent)
        return {
            "type": "stats",
            "processed": self.processed,
            "errors": self.errors,
            "cpu_ns": time.thread_time_ns(),
            "busy_ns": self._busy_ns,
            "calls": self._calls,
            "recent": count,
            "p50_ns": recent[count // 2] if count else 0,
            "p99_ns": recent[min(count - 1, count * 99 // 100)] if count else 0,
            "max_ns": recent[-1] if count else 0,
            # Sends that waited for a full reader queue, and sends only some readers took.
            "output_waits": self.output.waits if self.output is not None else 0,
            "output_partial": self.output.partial if self.output is not None else 0,
            "anticipated": self.anticipated,
        }

    def send_stats(self) -> None:
        self.send_control(self.stats_message())

    def _view_at(self, address: int, length: int) -> np.ndarray:
        """A read-only float32 view of the `length` bytes at `address`, kept for the next
        frame received there (at most `MAX_VIEWS`)."""
        samples = float32_view(address, length, self._views, MAX_VIEWS)
        # `setflags` directly: the `flags.writeable` setter builds a flags object and calls
        # this same method by name (2,500 instructions a frame against 700).
        samples.setflags(write=False)
        return samples

    def _report_lost(self, port: InputPort, got: int) -> None:
        self.log(f"lost frames on {port.name}: expected {port.expected}, got {got}")
        self.send_control(
            {"type": "lost", "input": port.name, "expected": port.expected, "got": got}
        )

    def _report_error(self, sequence: int, exc: Exception) -> None:
        self.errors += 1
        tb = traceback.format_exc()
        self.log(f"process() failed on frame {sequence}:\n{tb}")
        self.send_control(
            {"type": "error", "sequence": sequence, "error": _describe(exc), "traceback": tb}
        )

    # -- sending ------------------------------------------------------------------------------

    def emit(self, result: Any, source: RuntimeData) -> None:
        """Publishes whatever `process()` produced, in order."""
        if result is None:
            return
        if isinstance(result, RuntimeData):
            self.publish(result, source)
        elif isinstance(result, (list, tuple)):
            for item in result:
                self.emit(item, source)
        elif hasattr(result, "__anext__"):
            while True:
                try:
                    item = self.driver.run(result.__anext__())
                except StopAsyncIteration:
                    break
                self.emit(item, source)
        elif hasattr(result, "__await__"):
            self.emit(self.driver.run(result), source)
        elif isinstance(result, GeneratorType) or hasattr(result, "__next__"):
            for item in result:
                self.emit(item, source)
        else:
            raise TypeError(
                f"process() produced {type(result).__name__}; expected RuntimeData, None, "
                "a list of RuntimeData, or a (async) generator of RuntimeData"
            )

    def publish(self, data: RuntimeData, source: RuntimeData) -> None:
        output: OutputPort = self.output  # type: ignore[assignment]
        timestamp = data.timestamp_ns
        if timestamp is None:
            timestamp = source.timestamp_ns or 0
        if data._loan is not None and self._sent_loaned(data, output, timestamp):
            return
        if data._kind == KIND_AUDIO:
            audio: Audio = data._value
            samples = audio.samples
            if type(samples) is not np.ndarray:
                samples = np.asarray(samples, dtype=_f32)
            output.send_audio(samples, audio.sample_rate, audio.channels, timestamp)
        else:
            output.send_bytes(data._kind, data.encode(), timestamp)

    @staticmethod
    def _sent_loaned(data: RuntimeData, output: OutputPort, timestamp: int) -> bool:
        """Sends a loaned output as it is; False when its `samples` were replaced by another
        array: that one is what the node means to send, so it goes out the ordinary way
        (copied) and the loan is given back."""
        loan = data._loan
        if loan is False:
            raise ValueError("a loaned output was returned twice; a loan is sent once")
        port, loaned, view = loan
        if port is not output:
            raise ValueError("a loaned output was returned by a node that did not loan it")
        data._loan = False
        if data._value.samples is view:
            output.send_loaned(loaned, timestamp)
            return True
        return False


class Pace:
    """The period of a steadily paced input, learned from arrival times, and when to start
    polling for its next frame: `lead_ns` before it is due (earlier while frames come before
    the polling starts), until `lead_ns` after.

    Arrivals are seen late by a wake-up when the runner slept through them, so a frame that
    comes while the runner still sleeps moves the polling earlier (`missed`), and each frame
    caught polling lets it drift back (`caught`). Steady means the latest gaps agree within
    an eighth of the period; a frame that breaks the rhythm (a pause, a burst) stops the
    polling until the gaps agree again, so an irregular input costs no CPU."""

    __slots__ = ("lead_ns", "last", "period", "steady", "extra")

    STEADY_AFTER = 2
    """Agreeing gaps in a row before polling starts."""

    MAX_EXTRA_NS = 4_000_000
    """The earliest polling starts: this much before `lead_ns` before the due time."""

    def __init__(self, lead_ns: int) -> None:
        self.lead_ns = lead_ns
        self.last = 0
        self.period = 0
        self.steady = 0
        self.extra = 0

    def arrived(self, now: int) -> None:
        if not self.lead_ns:
            return
        gap = now - self.last if self.last else 0
        self.last = now
        period = self.period
        if period and abs(gap - period) * 8 <= period:
            self.period = (period * 7 + gap) // 8
            self.steady += 1
        else:
            # Too short to be worth it (back to back, the spin covers it) or a new rhythm.
            self.period = gap if gap > 4 * self.lead_ns else 0
            self.steady = 0
            self.extra = 0

    def wake_at(self) -> int:
        """When to stop sleeping for the next frame; 0 when the input is not steady."""
        if self.steady < self.STEADY_AFTER:
            return 0
        return self.last + self.period - self.lead_ns - self.extra

    def poll_until(self) -> int:
        return self.last + self.period + self.lead_ns

    def missed(self) -> None:
        """A frame waited for the runner's sleep to end: start polling earlier (by at most a
        quarter of the period, and `MAX_EXTRA_NS`)."""
        cap = min(self.MAX_EXTRA_NS, self.period // 4)
        self.extra = min(self.extra * 2 + self.lead_ns, cap)

    def caught(self, at: int, polled_from: int) -> None:
        """A frame was found polling at `at`, having polled since `polled_from`: polling
        longer than `lead_ns` before a frame lets the start drift back, by half the excess."""
        excess = at - polled_from - self.lead_ns
        if excess > 0 and self.extra:
            self.extra = max(0, self.extra - excess // 2)


class _Rings:
    """Sleeps until any of `ports` is rung (GIL released): on their doorbells with `select`, to
    the microsecond, else on an iceoryx2 `WaitSet` of their listeners, whose timeout rounds up
    to the next millisecond."""

    def __init__(self, ports: List[InputPort]) -> None:
        self.bells = [port.bell for port in ports if port.bell is not None]
        self.waitset: Any = None
        self.guards: List[Any] = []
        if len(self.bells) < len(ports):
            self.bells = []
            self.waitset = (
                iox2.WaitSetBuilder.new()
                .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
                .create(iox2.ServiceType.Ipc)
            )
            self.guards = [self.waitset.attach_notification(port.listener) for port in ports]

    @property
    def precise(self) -> bool:
        """Whether a wait ends at its timeout, not up to a millisecond later."""
        return self.waitset is None

    def wait(self, timeout_ns: int) -> None:
        if self.waitset is None:
            wait_any(self.bells, timeout_ns / 1e9)
        else:
            millis = max(1, timeout_ns // 1_000_000)
            self.waitset.wait_and_process_with_timeout(iox2.Duration.from_millis(millis))

    def close(self) -> None:
        for guard in self.guards:
            guard.delete()
        if self.waitset is not None:
            self.waitset.delete()
        self.guards, self.waitset = [], None


class _WaitAhead:
    """Sleeps until shortly before a paced frame is due, woken sooner by its input's ring.

    A doorbell's wait ends when asked. The iceoryx2 0.10 bindings' waits are coarse:
    `Listener.timed_wait` sleeps in steps of several milliseconds and a `WaitSet` timeout
    rounds up to the next millisecond. So with the event service the wait is a `WaitSet` wait
    of whole milliseconds that ends about a millisecond early, then a plain `time.sleep` for
    the rest (an event in that last stretch waits for the sleep)."""

    SHORT_NS = 1_500_000
    """At most this long is left to a plain sleep (event service only)."""

    def __init__(self, port: InputPort) -> None:
        self.port = port
        self.rings = _Rings([port])

    def wait(self, left_ns: int, stop: StopFlag) -> bool:
        """Waits up to about `left_ns`; True when a frame came before polling began: it waited
        for a plain sleep to end (event service), or rang the doorbell during the sleep, so
        it paid a wake-up the polling was meant to save."""
        precise = self.rings.precise
        if left_ns <= self.SHORT_NS and not precise:
            time.sleep(left_ns / 1e9)
            return True
        self.port.clear()  # rings of frames already taken
        if self.port.subscriber.has_samples():
            return False
        try:
            self.rings.wait(left_ns if precise else left_ns - self.SHORT_NS // 3)
        except Exception:
            _pause_after_wait_error(stop)
        return precise and self.port.subscriber.has_samples()

    def close(self) -> None:
        self.rings.close()


def _decode(kind: int, address: int, length: int, input_name: str) -> Any:
    """The value of a text, JSON or bytes frame of `length` bytes at `address`."""
    if kind == KIND_TEXT:
        return str(byte_array(length).from_address(address), "utf-8")
    if kind == KIND_JSON:
        return json.loads(str(byte_array(length).from_address(address), "utf-8"))
    if kind == KIND_BYTES:
        return bytes(byte_array(length).from_address(address))
    raise ValueError(f"unexpected frame kind {kind} on input {input_name}")


class RealtimeRefused(OSError):
    """The kernel would not make the node's thread `SCHED_FIFO`."""


def make_realtime(priority: int) -> None:
    """Makes the calling thread `SCHED_FIFO` at `priority`, so that no thread of ordinary
    priority holds up its frames (BENCHMARKS.md, "Pipeline")."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        raise RealtimeRefused(
            f"the kernel refused SCHED_FIFO at priority {priority} ({exc}); fix: a host "
            f"process needs CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority}, and where "
            "the kernel budgets real-time threads by cgroup, a real-time budget for its cgroup "
            "(cpu.rt_runtime_us); a container gets both from Berth and Docker (dockerd "
            "--cpu-rt-runtime)"
        ) from exc


def _has_coroutines(node_class: type) -> bool:
    """Whether the node's `process`, `initialize` or `cleanup` is an `async def` (or an async
    generator)."""
    flags = CO_COROUTINE | CO_ASYNC_GENERATOR
    for name in ("process", "initialize", "cleanup"):
        method = getattr(node_class, name, None)
        if method is getattr(Node, name):  # `Node`'s own hooks are never run
            continue
        code = getattr(method, "__code__", None)
        if code is not None and code.co_flags & flags:
            return True
    return False


def _pause_after_wait_error(stop: StopFlag) -> None:
    """A wait fails with `InterruptSignal` when a signal arrives; the loop then checks the stop
    flag. The short pause keeps any other, lasting wait error from becoming a busy loop."""
    if not stop.requested:
        time.sleep(0.001)


def _encode_control(message: Dict[str, Any], limit: int) -> bytes:
    """UTF-8 JSON of `message`, shortening its traceback (keeping the end) to fit `limit`."""
    if len(message.get("error", "")) > 4096:
        message = dict(message, error=message["error"][:4096] + "...")
    payload = json.dumps(message).encode("utf-8")
    if len(payload) > limit and "traceback" in message:
        tb = message["traceback"]
        keep = max(0, len(tb) - (len(payload) - limit) - 64)
        message = dict(message, traceback="...(shortened)\n" + tb[len(tb) - keep :])
        payload = json.dumps(message).encode("utf-8")
    return payload


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _only_runner_bytecode() -> None:
    """Puts back the interpreter's bytecode setting (`PYTHONDONTWRITEBYTECODE`, `-B`) that
    `berth/__init__.py` lifted for the runner's own modules: node code is never compiled to
    files it did not ask for."""
    sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)


def main(argv: Optional[Iterable[str]] = None) -> int:
    stop = StopFlag()
    stop.install()
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)  # node prints reach the host's log promptly
    parser = argparse.ArgumentParser(
        prog="python -m berth.runner", description="Run one Berth node (see docs/PROTOCOL.md)."
    )
    parser.add_argument("--spec", help="node spec JSON (default: $BERTH_NODE_SPEC)")
    parser.add_argument("--serve", help="serve spec JSON: run a shared runner (serve.py)")
    args = parser.parse_args(None if argv is None else list(argv))
    if args.serve:
        from .serve import parse_and_serve

        _only_runner_bytecode()
        watch_owner(
            os.environ.get(ENV_OWNER_LOCK), stop.request, lambda m: print(m, file=sys.stderr)
        )
        return parse_and_serve(args.serve, stop)[0]
    text = args.spec or os.environ.get("BERTH_NODE_SPEC")
    if not text:
        print("berth: no node spec (pass --spec or set BERTH_NODE_SPEC)", file=sys.stderr)
        return 1
    try:
        spec = NodeSpec.parse(text)
    except SpecError as exc:
        print(f"berth: invalid node spec: {exc}", file=sys.stderr, flush=True)
        return 1
    _only_runner_bytecode()
    runner = Runner(spec, stop)
    watch_owner(os.environ.get(ENV_OWNER_LOCK), stop.request, runner.log)
    return runner.run()


if __name__ == "__main__":
    sys.exit(main())
