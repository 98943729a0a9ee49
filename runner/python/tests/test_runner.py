"""End-to-end tests: a real runner process, real iceoryx2 shared memory, the test as host."""

import json
import os
import signal
import textwrap
import time
from typing import Any, Callable, Dict, List

import iceoryx2 as iox2
import numpy as np
import pytest
from hostsim import Host

from berth import steps
from berth.bell import AWAKE, GENERATION
from berth.frame import END_OF_STREAM, KIND_AUDIO, KIND_BYTES, KIND_CONTROL, KIND_JSON, KIND_TEXT

FRAME = 960  # 20 ms at 48 kHz


#: A helper module for probe nodes: which file (e.g. a /dev/shm segment) maps an address.
MAPPING_MODULE = """
    def mapping_of(address):
        with open("/proc/self/maps") as maps:
            for line in maps:
                fields = line.split()
                low, high = (int(v, 16) for v in fields[0].split("-"))
                if low <= address < high:
                    return fields[5] if len(fields) > 5 else ""
        return None
"""


def write_nodes(folder: Any, name: str, source: str) -> str:
    """Writes a node module (and the `mapping` helper module) into `folder` and returns the
    folder (for `node_dirs`)."""
    for module, text in ((name, source), ("mapping", MAPPING_MODULE)):
        path = os.path.join(str(folder), f"{module}.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
    return str(folder)


def stop_with_eos(host: Host) -> Dict[str, Any]:
    host.send_eos()
    eos = host.receive()
    assert eos.eos and eos.kind == KIND_CONTROL and eos.payload_len == 0
    stopped = host.wait_control("stopped")
    assert host.wait_exit() == 0, host.logs()
    return stopped


def final_stats(host: Host) -> Dict[str, Any]:
    """After END_OF_STREAM: the last `stats` before `stopped` (the runner's final figures)."""
    stats: Dict[str, Any] = {}
    while True:
        message = host.next_control()
        if message["type"] == "stopped":
            return stats
        if message["type"] == "stats":
            stats = message


def process_cpu_s(host: Host) -> float:
    """The runner process's CPU time so far (user and system), in seconds."""
    assert host.proc is not None
    with open(f"/proc/{host.proc.pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def control_types(host: Host) -> List[str]:
    return [m["type"] for m in host.drain_control()]


ASYNC_ECHO = """
    from berth import Node

    class AsyncEcho(Node):
        async def process(self, data):
            return data
"""


@pytest.mark.parametrize(
    "spin_us,node,driver",
    [
        (50, "Identity", "inline"),
        (0, "Identity", "inline"),
        (50, "AsyncEcho", "inline"),
        (50, "AsyncEcho", "loop"),
    ],
    ids=["spin50", "spin0", "async", "async_loop"],
)
def test_identity_round_trip_is_bit_exact(
    host: Host, tmp_path: Any, spin_us: int, node: str, driver: str
) -> None:
    nodes = write_nodes(tmp_path, "echo", ASYNC_ECHO)
    host.start(node, spin_us=spin_us, coroutine_driver=driver, node_dirs=[nodes])
    ready = host.wait_ready()
    assert ready["iceoryx2"] == "0.10.0" and ready["pid"] == host.proc.pid  # type: ignore[union-attr]
    rng = np.random.default_rng(1)
    for i in range(50):
        x = rng.standard_normal(FRAME).astype(np.float32)
        x[:4] = [np.nan, np.inf, -0.0, 1e-45]  # odd values must survive bit for bit
        host.send_audio(x, timestamp_ns=1000 + i)
        out = host.receive()
        assert (out.kind, out.flags, out.sequence) == (KIND_AUDIO, 0, i)
        assert (out.sample_rate, out.channels, out.payload_len) == (48000, 1, FRAME * 4)
        assert out.timestamp_ns == 1000 + i
        assert out.payload == x.tobytes()
    assert stop_with_eos(host)["processed"] == 50


def test_gain_is_bit_exact_float32(host: Host) -> None:
    gain = 0.37
    host.start("Gain", params={"gain": gain})
    host.wait_ready()
    rng = np.random.default_rng(2)
    for i in range(20):
        x = rng.uniform(-1, 1, FRAME).astype(np.float32)
        host.send_audio(x)
        out = host.receive()
        assert out.sequence == i
        assert out.payload == (x * np.float32(gain)).tobytes()
    stereo = rng.uniform(-1, 1, (FRAME, 2)).astype(np.float32)
    host.send_audio(stereo, sample_rate=44100, channels=2)
    out = host.receive()
    assert (out.sample_rate, out.channels) == (44100, 2)
    assert out.payload == (stereo * np.float32(gain)).tobytes()
    stop_with_eos(host)


RESHAPING_NODES = """
    import numpy as np
    from berth import Node, RuntimeData

    class Reshape(Node):
        \"\"\"Returns, in turn, its input reversed (a strided view), as a transposed 2-D array
        (not contiguous), and in float64 (converted when sent).\"\"\"

        def process(self, data):
            x = data.audio.samples
            turn = data.sequence % 3
            if turn == 0:
                out = x[::-1]
            elif turn == 1:
                out = x.reshape(2, -1).T
            else:
                out = x.astype(np.float64) * 2.0
            return RuntimeData.audio(out, 48000)
"""


def test_outputs_of_any_layout_and_frames_of_any_size_are_sent_exactly(
    host: Host, tmp_path: Any
) -> None:
    """Frames of changing sizes land in the same few shared-memory chunks again and again;
    the runner's views of them (input and output) must follow each frame's size."""
    host.start("Reshape", node_dirs=[write_nodes(tmp_path, "reshape", RESHAPING_NODES)])
    host.wait_ready()
    rng = np.random.default_rng(4)
    for i, size in enumerate([FRAME, 480, FRAME, 2, FRAME * 2, 480, FRAME, 64, FRAME] * 2):
        x = rng.uniform(-1, 1, size).astype(np.float32)
        host.send_audio(x)
        out = host.receive()
        assert out.sequence == i
        turn = i % 3
        if turn == 0:
            expected = x[::-1]
        elif turn == 1:
            expected = x.reshape(2, -1).T
        else:
            expected = (x.astype(np.float64) * 2.0).astype(np.float32)
        assert out.payload == np.ascontiguousarray(expected).tobytes(), (i, size)
    stop_with_eos(host)


def test_gain_copied_matches_gain_loaned(host: Host) -> None:
    host.start("Gain", params={"gain": 0.37, "loaned": False})
    host.wait_ready()
    x = np.random.default_rng(3).uniform(-1, 1, FRAME).astype(np.float32)
    host.send_audio(x)
    assert host.receive().payload == (x * np.float32(0.37)).tobytes()
    stop_with_eos(host)


LOANING_NODE = """
    import numpy as np
    from berth import Node, RuntimeData
    from mapping import mapping_of

    class Loaner(Node):
        async def process(self, data):
            x = data.audio.samples
            first = self.loan_audio(len(x), 48000)
            second = self.loan_audio(len(x), 48000)
            assert first.loaned and second.loaned
            np.add(x, 1, out=first.audio.samples)
            np.add(x, 2, out=second.audio.samples)
            maps = [mapping_of(o.audio.samples.ctypes.data) for o in (first, second)]
            if data.sequence == 1:
                return [first, first]  # a loan goes out once: an error, after the first
            if data.sequence == 2:
                first.audio.samples = x * 3  # replaced, not written: the new array goes out
                return first
            # Returned in the other order than loaned: numbered as sent.
            report = RuntimeData.json({"mappings": maps})
            return [second, first, report]
"""


def test_loaned_outputs_go_out_in_place_numbered_as_sent(host: Host, tmp_path: Any) -> None:
    host.start("Loaner", node_dirs=[write_nodes(tmp_path, "loaner", LOANING_NODE)])
    host.wait_ready()
    x = np.arange(FRAME, dtype=np.float32)
    host.send_audio(x)
    second, first, report = host.receive(), host.receive(), host.receive()
    assert [o.sequence for o in (second, first, report)] == [0, 1, 2]
    assert second.payload == (x + 2).tobytes() and first.payload == (x + 1).tobytes()
    # The node wrote straight into shared memory: its own publisher's iceoryx2 data segment
    # in /dev/shm (this session's prefix), which the host reads in place.
    for mapping in report.json()["mappings"]:
        assert mapping.startswith(f"/dev/shm/{host.prefix}"), mapping
    host.send_audio(x)
    assert host.receive().payload == (x + 1).tobytes()
    error = host.wait_control("error")
    assert "returned twice" in error["error"], error
    host.send_audio(x)
    assert host.receive().payload == (x * 3).tobytes()
    stop_with_eos(host)


ZERO_COPY_NODE = """
    import ctypes
    import numpy as np
    from berth import Node, RuntimeData
    from mapping import mapping_of

    class ZeroCopyProbe(Node):
        async def process(self, data):
            samples = data.audio.samples
            shm = np.frombuffer(
                (ctypes.c_uint8 * data.shm_len).from_address(data.shm_address), dtype=np.uint8
            )
            try:
                samples[0] = 0.0
                write_blocked = False
            except ValueError:
                write_blocked = True
            return RuntimeData.json({
                "samples_address": samples.ctypes.data,
                "samples_nbytes": samples.nbytes,
                "shm_address": data.shm_address,
                "shm_len": data.shm_len,
                "owndata": bool(samples.flags.owndata),
                "writeable": bool(samples.flags.writeable),
                "write_blocked": write_blocked,
                "shares_memory": bool(np.shares_memory(samples, shm)),
                "mapping": mapping_of(samples.ctypes.data),
                "head": samples[:4].tolist(),
                "view_matches": bytes(data.view[:16]) == samples[:4].tobytes(),
                "view_readonly": data.view.readonly,
            })
"""


def test_input_audio_is_a_view_on_shared_memory(host: Host, tmp_path: Any) -> None:
    nodes = write_nodes(tmp_path, "probe", ZERO_COPY_NODE)
    host.start("ZeroCopyProbe", node_dirs=[nodes])
    host.wait_ready()
    for i in range(3):
        x = np.arange(FRAME, dtype=np.float32) + i
        host.send_audio(x)
        report = host.receive().json()
        start, length = report["shm_address"], report["shm_len"]
        address, nbytes = report["samples_address"], report["samples_nbytes"]
        assert length == nbytes == FRAME * 4
        assert start <= address and address + nbytes <= start + length
        assert report["shares_memory"] is True
        assert report["owndata"] is False
        assert report["writeable"] is False and report["write_blocked"] is True
        # The memory the numpy array points into is the host publisher's iceoryx2 data
        # segment in /dev/shm (this session's prefix), mapped into the runner.
        assert report["mapping"].startswith(f"/dev/shm/{host.prefix}"), report["mapping"]
        assert report["head"] == x[:4].tolist()
        assert report["view_matches"] is True and report["view_readonly"] is True
    stop_with_eos(host)


def test_ten_thousand_frames_all_accounted_for(host: Host) -> None:
    host.start("Identity")
    host.wait_ready()
    total, burst = 10_000, 32  # never more in flight than the queue depth
    base = np.arange(FRAME, dtype=np.float32)
    sequences: List[int] = []
    sent = 0
    while sent < total:
        n = min(burst, total - sent)
        for i in range(n):
            host.send_audio(base + np.float32(sent + i))
        for i in range(n):
            out = host.receive()
            assert out.samples()[0] == sent + i
            sequences.append(out.sequence)
        sent += n
    assert sequences == list(range(total))
    assert stop_with_eos(host)["processed"] == total
    assert "lost" not in control_types(host) and "error" not in control_types(host)


FLAKY_NODE = """
    from berth import Node

    class Flaky(Node):
        async def process(self, data):
            if data.json.get("fail"):
                raise ValueError(f"bad frame {data.json['n']}")
            return data
"""


def test_process_exception_reports_error_and_continues(host: Host, tmp_path: Any) -> None:
    host.start("Flaky", node_dirs=[write_nodes(tmp_path, "flaky", FLAKY_NODE)])
    host.wait_ready()
    host.send_json({"n": 0})
    assert host.receive().json() == {"n": 0}
    host.send_json({"n": 1, "fail": True})
    error = host.wait_control("error")
    assert error["sequence"] == 1
    assert error["error"] == "ValueError: bad frame 1"
    assert "Traceback" in error["traceback"] and "bad frame 1" in error["traceback"]
    assert "flaky.py" in error["traceback"]
    host.send_json({"n": 2})
    out = host.receive()
    assert out.json() == {"n": 2} and out.sequence == 1
    assert stop_with_eos(host)["processed"] == 3
    assert "bad frame 1" in host.logs()  # also printed to stderr


def test_unknown_node_type_is_fatal(host: Host, tmp_path: Any) -> None:
    nodes = write_nodes(
        tmp_path, "other", "from berth import Node\n\nclass Other(Node):\n    pass\n"
    )
    host.start("DoesNotExist", node_dirs=[nodes])
    fatal = host.wait_control("fatal")
    assert host.wait_exit() == 1
    assert fatal["stage"] == "load"
    message = fatal["error"]
    assert "DoesNotExist" in message
    assert nodes in message  # the searched folder
    assert "Other" in message and "Gain" in message  # classes that were found
    assert "entry points" in message
    assert "DoesNotExist" in host.logs()


def test_initialize_failure_is_fatal(host: Host, tmp_path: Any) -> None:
    source = """
        from berth import Node

        class Broken(Node):
            async def initialize(self):
                raise RuntimeError("model file missing")
    """
    host.start("Broken", node_dirs=[write_nodes(tmp_path, "broken", source)])
    fatal = host.wait_control("fatal")
    assert host.wait_exit() == 1
    assert fatal["stage"] == "initialize"
    assert fatal["error"] == "RuntimeError: model file missing"
    assert "model file missing" in fatal["traceback"]


MODULE_NODES = """
    import sys
    from berth import Node, RuntimeData

    class SeesModules(Node):
        def process(self, data):
            return RuntimeData.json({"asyncio": "asyncio" in sys.modules})

    class SeesLoop(Node):
        async def process(self, data):
            loop = sys.modules["asyncio"].get_running_loop()
            return RuntimeData.json({"loop": loop is not None})
"""


def test_asyncio_is_imported_only_for_nodes_with_coroutines(
    make_host: Callable[..., Host], tmp_path: Any
) -> None:
    nodes = write_nodes(tmp_path, "modules", MODULE_NODES)
    plain = make_host()
    plain.start("SeesModules", node_dirs=[nodes])
    plain.wait_ready()
    plain.send_text("look")
    assert plain.receive().json() == {"asyncio": False}
    stop_with_eos(plain)
    coroutine = make_host()
    coroutine.start("SeesLoop", node_dirs=[nodes])
    coroutine.wait_ready()
    coroutine.send_text("look")
    assert coroutine.receive().json() == {"loop": True}
    stop_with_eos(coroutine)


MARKER_NODE = """
    from berth import Node

    class Marker(Node):
        async def process(self, data):
            return data

        async def cleanup(self):
            with open(self.params["marker"], "w") as f:
                f.write("cleaned")
"""


def test_end_of_stream_stops_cleanly(host: Host, tmp_path: Any) -> None:
    marker = tmp_path / "cleaned"
    nodes = write_nodes(tmp_path, "marker", MARKER_NODE)
    host.start("Marker", node_dirs=[nodes], params={"marker": str(marker)}, via_env=True)
    host.wait_ready()
    for _ in range(3):
        host.send_text("x")
        host.receive()
    host.send_eos()
    eos = host.receive()
    assert eos.flags & END_OF_STREAM and eos.sequence == 3 and eos.payload == b""
    stopped = host.wait_control("stopped")
    assert stopped == {"type": "stopped", "processed": 3, "reason": "end_of_stream"}
    assert host.wait_exit() == 0
    assert marker.read_text() == "cleaned"
    if host.doorbell == "fifo":
        # The runner took its own bell (pipe and promise) on the input with it; the host's
        # bell is left.
        assert os.listdir(host.input.bells) == [GENERATION]
        assert host.output.bells
        left = sorted(os.listdir(host.output.bells))
        assert len(left) == 3 and left[0] == GENERATION and left[2] == left[1] + AWAKE, left


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_cleanly(host: Host, tmp_path: Any, sig: int) -> None:
    marker = tmp_path / "cleaned"
    nodes = write_nodes(tmp_path, "marker", MARKER_NODE)
    host.start("Marker", node_dirs=[nodes], params={"marker": str(marker)})
    host.wait_ready()
    host.send_text("x")
    host.receive()
    host.terminate(sig)
    stopped = host.wait_control("stopped")
    assert stopped["reason"] == "signal" and stopped["processed"] == 1
    assert host.wait_exit() == 0
    assert marker.read_text() == "cleaned"


def test_text_json_bytes_round_trip(host: Host) -> None:
    host.start("Identity")
    host.wait_ready()
    text = "héllo wörld ✓ 你好"
    obj = {"a": [1, 2.5, None, True], "b": {"c": "ü"}, "n": -7}
    blob = bytes(range(256)) * 4
    host.send_text(text, timestamp_ns=11)
    host.send_json(obj, timestamp_ns=12)
    host.send_bytes(blob, timestamp_ns=13)
    host.send_text("", timestamp_ns=14)
    host.send_bytes(b"", timestamp_ns=15)
    outs = [host.receive() for _ in range(5)]
    assert [o.kind for o in outs] == [KIND_TEXT, KIND_JSON, KIND_BYTES, KIND_TEXT, KIND_BYTES]
    assert [o.sequence for o in outs] == [0, 1, 2, 3, 4]
    assert [o.timestamp_ns for o in outs] == [11, 12, 13, 14, 15]
    assert outs[0].text() == text
    assert outs[1].json() == obj
    assert outs[2].payload == blob
    assert outs[3].payload == b"" and outs[4].payload == b""
    assert all(o.sample_rate == 0 and o.channels == 0 for o in outs)
    stop_with_eos(host)


GENERATOR_NODES = """
    import asyncio
    from berth import Node, RuntimeData

    class Twice(Node):
        async def process(self, data):
            yield RuntimeData.json({"seq": data.sequence, "part": 0})
            await asyncio.sleep(0.001)  # really suspends: runs in the event loop
            yield RuntimeData.json({"seq": data.sequence, "part": 1})

    class SyncList(Node):
        def process(self, data):
            return [data, RuntimeData.text(data.text.upper())]

    class SyncGen(Node):
        def process(self, data):
            for ch in data.text:
                yield RuntimeData.text(ch)

    class Sleepy(Node):
        async def process(self, data):
            await asyncio.sleep(0.001)
            return RuntimeData.text(data.text + "!")

    class Dropper(Node):
        async def process(self, data):
            return None if data.text == "drop" else data
"""


def test_async_generator_yields_two_outputs_per_input(host: Host, tmp_path: Any) -> None:
    host.start("Twice", node_dirs=[write_nodes(tmp_path, "gens", GENERATOR_NODES)])
    host.wait_ready()
    for i in range(5):
        host.send_text("x", timestamp_ns=100 + i)
    outs = [host.receive() for _ in range(10)]
    assert [o.sequence for o in outs] == list(range(10))
    assert [o.json() for o in outs] == [{"seq": i // 2, "part": i % 2} for i in range(10)]
    assert [o.timestamp_ns for o in outs] == [100 + i // 2 for i in range(10)]
    assert stop_with_eos(host)["processed"] == 5


@pytest.mark.parametrize(
    "node_type,inputs,expected",
    [
        ("SyncList", ["ab"], ["ab", "AB"]),
        ("SyncGen", ["abc"], ["a", "b", "c"]),
        ("Sleepy", ["a", "b"], ["a!", "b!"]),
        ("Dropper", ["a", "drop", "b"], ["a", "b"]),
        ("Dropper", ["drop", "drop"], []),  # END_OF_STREAM is the first output frame
    ],
)
def test_process_forms(
    host: Host, tmp_path: Any, node_type: str, inputs: List[str], expected: List[str]
) -> None:
    host.start(node_type, node_dirs=[write_nodes(tmp_path, "gens", GENERATOR_NODES)])
    host.wait_ready()
    for text in inputs:
        host.send_text(text)
    assert [host.receive().text() for _ in expected] == expected
    assert stop_with_eos(host)["processed"] == len(inputs)


def test_sequence_gap_reports_lost(host: Host) -> None:
    host.start("Identity")
    host.wait_ready()
    host.send_text("a")
    host.send_text("b", sequence=5)
    lost = host.wait_control("lost")
    assert lost == {"type": "lost", "input": host.input.name, "expected": 1, "got": 5}
    assert [host.receive().text() for _ in range(2)] == ["a", "b"]
    stop_with_eos(host)


@pytest.mark.parametrize("doorbell", ["event", "fifo"])
def test_two_inputs_stop_after_both_end(make_host: Callable[..., Host], doorbell: str) -> None:
    host = make_host("mix", extra_inputs=["up"], doorbell=doorbell)
    upstream = host.extra[0]
    host.start("Identity")
    host.wait_ready()
    host.send_text("from input")
    upstream.send(KIND_TEXT, b"from upstream")
    got = sorted(host.receive().text() for _ in range(2))
    assert got == ["from input", "from upstream"]
    host.send_eos()  # one input ended: the node keeps running
    upstream.send(KIND_TEXT, b"still here")
    assert host.receive().text() == "still here"
    host.send_eos(upstream)
    assert host.receive().eos
    assert host.wait_control("stopped")["processed"] == 3
    assert host.wait_exit() == 0


def test_output_larger_than_max_frame_bytes_is_an_error(host: Host) -> None:
    host.start("Identity", max_frame_bytes=4096)
    host.wait_ready()
    host.send_bytes(b"x" * 5000)
    error = host.wait_control("error")
    assert error["sequence"] == 0 and "exceeds the 4096 byte maximum" in error["error"]
    host.send_bytes(b"y" * 4096)
    out = host.receive()
    assert out.payload == b"y" * 4096 and out.sequence == 0
    stop_with_eos(host)


@pytest.mark.parametrize("loaned", [True, False], ids=["loaned", "copied"])
def test_a_slow_reader_holds_the_node_back_and_nothing_is_lost(
    make_host: Callable[..., Host], loaned: bool
) -> None:
    host = make_host(queue_depth=2)
    host.start("Gain", params={"gain": 0.5, "loaned": loaned}, send_timeout_ms=60_000)
    host.wait_ready()
    rng = np.random.default_rng(5)
    frames = [rng.uniform(-1, 1, FRAME).astype(np.float32) for _ in range(5)]
    # Nothing is read until the node met the full output queue (0, 1): a node whose send
    # found no room notifies once more before it waits, so a third wake-up on the output,
    # with only two frames taken, says it is holding frame 2 back.
    for x in frames:
        host.send_audio(x)
    wakes, deadline = 0, time.monotonic() + 20
    while wakes < 3:
        assert time.monotonic() < deadline, f"the node never held frame 2 back:\n{host.logs()}"
        wakes += len(host.output.listener.timed_wait(iox2.Duration.from_millis(100)))
    for i, x in enumerate(frames):
        out = host.receive()
        assert out.sequence == i
        assert out.payload == (x * np.float32(0.5)).tobytes()
    host.send_eos()
    assert host.receive().eos
    stats = final_stats(host)
    assert stats["output_waits"] >= 1 and stats["output_partial"] == 0, stats
    assert stats["processed"] == 5
    assert host.wait_exit() == 0
    assert not {"lost", "error", "fatal"} & set(control_types(host))


def test_a_paced_input_is_polled_for_before_it_is_due(host: Host) -> None:
    host.start("Identity", anticipate_us=500)
    host.wait_ready()
    x = np.arange(FRAME, dtype=np.float32)
    started, cpu_before = time.monotonic(), process_cpu_s(host)
    for i in range(30):
        time.sleep(0.02)  # the input's rhythm: one frame every 20 ms
        host.send_audio(x + i)
        out = host.receive()
        assert out.sequence == i and out.payload == (x + i).tobytes()
    # Polling only around each due time: a few percent of a CPU (CPU time, which a busy
    # machine does not inflate), not a runner that polls through the period.
    cpu = process_cpu_s(host) - cpu_before
    assert cpu < 0.25 * (time.monotonic() - started), cpu
    host.send_eos()
    assert host.receive().eos
    stats = final_stats(host)
    # Found by polling from 0.5 ms before each frame was due, not by a wake-up.
    assert stats["anticipated"] >= 1, stats
    assert host.wait_exit() == 0


def test_a_step_trace_times_every_frame_in_order(host: Host, tmp_path: Any) -> None:
    folder = tmp_path / "steps"
    host.start("Identity", env={"BERTH_STEP_TRACE": str(folder)})
    host.wait_ready()
    x = np.arange(FRAME, dtype=np.float32)
    for i in range(20):
        host.send_audio(x + i, timestamp_ns=1000 + i)
        assert host.receive().sequence == i
    stop_with_eos(host)
    [path] = folder.glob("steps-*.json")
    body = json.loads(path.read_text())
    assert body["fields"] == ["timestamp", "found", "called", "returned", "done", "cpu", "how"]
    rows = body["frames"]
    assert [row[0] for row in rows] == [1000 + i for i in range(20)], "one row a frame"
    cpus = range(os.cpu_count() or 1)
    ways = (steps.FOUND_POLLING, steps.FOUND_WOKEN_AHEAD, steps.FOUND_WOKEN)
    for _, found, called, returned, done, cpu, how in rows:
        assert 0 < found <= called <= returned <= done, rows
        assert cpu in cpus
        assert how in ways, rows
    assert rows[-1][1] < time.monotonic_ns()


def test_polling_ahead_of_paced_frames_of_any_kind_and_size_sends_only_them(host: Host) -> None:
    # Before polling for each paced frame the runner warms its path with a loan it gives back
    # unsent: the output carries exactly the answers, numbered 0, 1, 2, ..., whatever the kind
    # (a 5-byte text is not whole float32 values) and however the size changes.
    host.start("Identity", anticipate_us=500)
    host.wait_ready()
    for i in range(24):
        time.sleep(0.02)
        if i % 8 < 6:
            samples = np.arange(FRAME * (1 + i // 8), dtype=np.float32) + i
            host.send_audio(samples)
            expected = samples.tobytes()
        else:
            host.send_text(f"frame{i}")
            expected = f"frame{i}".encode()
        out = host.receive()
        assert (out.sequence, out.payload) == (i, expected)
    host.send_eos()
    assert host.receive().eos
    stats = final_stats(host)
    assert stats["anticipated"] >= 1, stats
    assert host.wait_exit() == 0
    assert not {"lost", "error", "fatal"} & set(control_types(host)), host.logs()
    assert "cannot warm" not in host.logs()


def test_a_reader_that_never_reads_ends_the_runner_loudly(make_host: Callable[..., Host]) -> None:
    host = make_host(queue_depth=2)
    host.start("Identity", send_timeout_ms=300)
    host.wait_ready()
    for i in range(3):
        host.send_json({"n": i})
    fatal = host.wait_control("fatal")
    assert fatal["stage"] == "run", fatal
    assert fatal["error"].startswith("OutputBlocked: no reader of " + host.output.name), fatal
    assert "took frame 2" in fatal["error"] and "not reading" in fatal["error"], fatal
    assert host.wait_exit() == 1


SLOW_NODE = """
import time
from berth import Node

class Slow(Node):
    async def process(self, data):
        if data.json.get("hang"):
            time.sleep(60)
        return data
"""


def test_a_hung_process_is_reported_and_ends_the_runner(host: Host, tmp_path: Any) -> None:
    host.start("Slow", node_dirs=[write_nodes(tmp_path, "slow", SLOW_NODE)], timeout_ms=200)
    host.wait_ready()
    host.send_json({"n": 0})
    assert host.receive().json() == {"n": 0}  # a quick frame is no trouble
    host.send_json({"hang": True})
    hung = host.wait_control("hung")
    assert (hung["sequence"], hung["timeout_ms"]) == (1, 200)
    assert hung["busy_ms"] >= 200
    assert host.wait_exit() == 4


BURN_NODE = '''
import time
from berth import Node

class Burn(Node):
    """Spins on the CPU for `ms` milliseconds a frame."""

    def process(self, data):
        until = time.thread_time() + data.json["ms"] / 1000
        while time.thread_time() < until:
            pass
        return data
'''


def test_stats_report_frames_cpu_and_process_times(host: Host, tmp_path: Any) -> None:
    host.start("Burn", node_dirs=[write_nodes(tmp_path, "burn", BURN_NODE)], stats_interval_ms=1)
    host.wait_ready()
    for _ in range(5):
        host.send_json({"ms": 4})
        host.receive()
    periodic = host.wait_control("stats")
    assert 1 <= periodic["processed"] <= 5
    final = stop_with_eos(host)
    stats = [m for m in host.messages if m["type"] == "stats"]
    last = stats[-1]
    assert host.messages.index(last) < host.messages.index(final), "stats before stopped"
    assert (last["processed"], last["calls"], last["recent"], last["errors"]) == (5, 5, 5, 0)
    # Each call spent 4 ms of CPU on the node's thread; its wall time cannot be less.
    assert last["cpu_ns"] >= 5 * 4_000_000
    assert last["p50_ns"] >= 4_000_000 and last["max_ns"] >= last["p99_ns"] >= last["p50_ns"]
    assert last["busy_ns"] >= 5 * 4_000_000
