"""Tests of the pieces that need no shared memory: data, spec, loader, coroutine driving."""

import asyncio
import ctypes
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from typing import Any, AsyncIterator, Dict

import numpy as np
import pytest
from hostsim import RUNNER_DIR

import berth
from berth import Node, RuntimeData, channels, steps
from berth.aio import CoroutineDriver
from berth.bell import AWAKE_MARGIN_NS, GENERATION, Bell, Ringer
from berth.frame import HEADER_LAYOUT, FrameHeader
from berth.loader import NodeNotFoundError, find_node_class
from berth.nodes import Gain, Identity
from berth.runner import (
    MAX_VIEWS,
    Pace,
    RealtimeRefused,
    Runner,
    _encode_control,
    make_realtime,
    ready_message,
)
from berth.spec import NodeSpec, SpecError

SPEC = {
    "session_id": "0badcafe",
    "node_id": "n",
    "node_type": "Identity",
    "inputs": ["0badcafe_n_input"],
    "output": "0badcafe_n_output",
    "control": "0badcafe_n_control",
    "iceoryx2_prefix": "berth_0badcafe_",
}


def test_frame_header_layout() -> None:
    names = [field[0] for field in FrameHeader._fields_]
    offsets = {name: getattr(FrameHeader, name).offset for name in names}
    assert offsets == {
        "kind": 0,
        "flags": 4,
        "sequence": 8,
        "timestamp_ns": 16,
        "sample_rate": 24,
        "channels": 28,
        "payload_len": 32,
    }
    assert FrameHeader.type_name() == "BerthFrameHeader"
    # The packed layout the frame path uses is the same header, field for field.
    values = {
        name: 2**bits - 1 - i
        for i, (name, ctype) in enumerate(FrameHeader._fields_)
        for bits in [ctypes.sizeof(ctype) * 8]
    }
    assert HEADER_LAYOUT.pack(*values.values()) == bytes(FrameHeader(**values))
    assert HEADER_LAYOUT.unpack_from(bytes(FrameHeader(**values))) == tuple(values.values())


def test_runtime_data_constructors_and_properties() -> None:
    stereo = np.zeros((480, 2), dtype=np.float32)
    audio = RuntimeData.audio(stereo, 48000, timestamp_ns=5)
    assert audio.kind == "audio" and audio.timestamp_ns == 5
    assert audio.audio.channels == 2 and audio.audio.num_frames == 480
    assert audio.audio.samples is stereo  # no copy for float32 input
    assert audio.audio.frames.shape == (480, 2)
    mono = RuntimeData.audio(np.ones(960, dtype=np.float64), 16000)
    assert mono.audio.samples.dtype == np.float32 and mono.audio.channels == 1
    assert RuntimeData.text("hé").text == "hé"
    assert RuntimeData.json({"a": [1]}).json == {"a": [1]}
    assert RuntimeData.json({"a": [1]}).encode() == b'{"a":[1]}'
    assert RuntimeData.bytes(bytearray(b"\x00\x01")).bytes == b"\x00\x01"
    with pytest.raises(TypeError, match="holds text, not audio"):
        RuntimeData.text("x").audio  # noqa: B018 (the access is what raises)
    with pytest.raises(ValueError):
        RuntimeData.audio(np.zeros(5, dtype=np.float32), 48000, channels=2)
    with pytest.raises(ValueError):
        RuntimeData.audio(np.zeros((4, 2), dtype=np.float32), 48000, channels=3)
    with pytest.raises(TypeError):
        RuntimeData.text(b"bytes")  # type: ignore[arg-type]
    assert RuntimeData.text("x").shm_address is None


def test_spec_parsing() -> None:
    spec = NodeSpec.parse(json.dumps(SPEC))
    assert spec.spin_us == 50 and spec.max_frame_bytes == 1 << 20 and spec.params == {}
    for missing in ("node_type", "inputs", "iceoryx2_prefix"):
        broken = {k: v for k, v in SPEC.items() if k != missing}
        with pytest.raises(SpecError, match=missing):
            NodeSpec.parse(json.dumps(broken))
    with pytest.raises(SpecError, match="spin_us"):
        NodeSpec.parse(json.dumps(dict(SPEC, spin_us=-1)))
    with pytest.raises(SpecError, match="JSON"):
        NodeSpec.parse("{not json")


def test_realtime_priority_is_read_checked_and_applied_to_the_calling_thread() -> None:
    assert NodeSpec.parse(json.dumps(SPEC)).realtime_priority == 0
    assert NodeSpec.parse(json.dumps(dict(SPEC, realtime_priority=5))).realtime_priority == 5
    for bad in (0, 100):
        with pytest.raises(SpecError, match="realtime_priority"):
            NodeSpec.parse(json.dumps(dict(SPEC, realtime_priority=bad)))
    with pytest.raises(RealtimeRefused, match="RLIMIT_RTPRIO"):
        make_realtime(100)  # out of SCHED_FIFO's range: refused whatever the privileges

    allowed = _may_be_realtime(3)
    seen: Dict[str, Any] = {}

    def promote() -> None:  # on a thread of its own: the policy is the thread's
        try:
            make_realtime(3)
            seen["policy"] = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        except RealtimeRefused as exc:
            seen["refused"] = str(exc)

    thread = threading.Thread(target=promote)
    thread.start()
    thread.join()
    if allowed:
        assert seen == {"policy": (os.SCHED_FIFO, 3)}
    else:
        assert "RLIMIT_RTPRIO" in seen["refused"]
    assert os.sched_getscheduler(0) == os.SCHED_OTHER, "only the calling thread changed"


def _may_be_realtime(priority: int) -> bool:
    """`CAP_SYS_NICE` or an `RLIMIT_RTPRIO` that allows `priority`, and where the kernel budgets
    real-time threads by cgroup (cgroup v1), a budget for this process's own cgroup."""
    with open("/proc/self/status") as f:
        caps = next(int(line.split()[1], 16) for line in f if line.startswith("CapEff:"))
    rtprio = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
    permitted = bool(caps & 1 << 23) or rtprio == resource.RLIM_INFINITY or rtprio >= priority
    for root in ("/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"):
        if os.path.exists(os.path.join(root, "cpu.rt_runtime_us")):
            with open("/proc/self/cgroup") as f:
                rows = [line.rstrip("\n").split(":", 2) for line in f]
            path = next(p for _, ctl, p in rows if "cpu" in ctl.split(","))
            try:
                with open(f"{root}{path}/cpu.rt_runtime_us") as f:
                    return permitted and int(f.read()) > 0
            except FileNotFoundError:  # the cgroup is not visible here: its budget unknown
                return permitted
    return permitted


def test_the_ready_message_names_the_installed_iceoryx2() -> None:
    from importlib import metadata

    message = ready_message()
    assert message["type"] == "ready"
    assert message["iceoryx2"] == metadata.version("iceoryx2")
    assert message["python"] == platform.python_version()


def test_bad_spec_exits_1_with_message() -> None:
    env = dict(os.environ, PYTHONPATH=RUNNER_DIR)
    env.pop("BERTH_NODE_SPEC", None)
    for args in (["--spec", "{}"], []):
        proc = subprocess.run(
            [sys.executable, "-m", "berth.runner", *args], env=env, capture_output=True, text=True
        )
        assert proc.returncode == 1
        assert "spec" in proc.stderr


def test_loader_finds_classes_in_node_dirs(tmp_path: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))  # the loader adds node folders to it
    # A module named like a stdlib module, a package, and a module that fails to import.
    (tmp_path / "json.py").write_text(
        "from berth import Node\n\nclass ClashNode(Node):\n    pass\n"
    )
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from .impl import PkgNode\n")
    (pkg / "impl.py").write_text("from berth import Node\n\nclass PkgNode(Node):\n    pass\n")
    (tmp_path / "broken.py").write_text("import not_a_real_module_xyz\n")
    assert find_node_class("ClashNode", [str(tmp_path)]).__name__ == "ClashNode"
    assert find_node_class("PkgNode", [str(tmp_path)]).__name__ == "PkgNode"
    assert find_node_class("Gain", [str(tmp_path)]) is Gain  # built-in fallback
    assert find_node_class("Identity", [], module="berth.nodes") is Identity
    with pytest.raises(NodeNotFoundError) as err:
        find_node_class("Missing", [str(tmp_path), str(tmp_path / "nope")])
    message = str(err.value)
    assert str(tmp_path) in message and "(missing)" in message
    assert "ClashNode" in message and "PkgNode" in message
    assert "not_a_real_module_xyz" in message


def test_control_messages_are_shortened_to_fit() -> None:
    tb = "".join(f"  line {i}\n" for i in range(20000)) + "ValueError: the end"
    payload = _encode_control({"type": "fatal", "error": "x" * 10000, "traceback": tb}, 65536)
    assert len(payload) <= 65536
    message = json.loads(payload)
    assert message["traceback"].endswith("ValueError: the end")
    assert message["traceback"].startswith("...(shortened)")


class _Waits(Node):
    async def process(self, data: RuntimeData) -> RuntimeData:
        await asyncio.sleep(0.001)
        future: asyncio.Future[RuntimeData] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_soon(future.set_result, data)
        return await future


class _Immediate(Node):
    async def process(self, data: RuntimeData) -> RuntimeData:
        return data


class _AsyncGen(Node):
    async def process(self, data: RuntimeData) -> AsyncIterator[RuntimeData]:
        yield data
        await asyncio.sleep(0)
        yield data


@pytest.mark.parametrize("driver", ["inline", "loop"])
def test_coroutines_inline_and_through_the_loop(driver: str) -> None:
    coroutines = CoroutineDriver(inline=driver == "inline")
    try:
        data = RuntimeData.text("x")
        assert coroutines.run(_Immediate({}).process(data)) is data
        assert coroutines.run(_Waits({}).process(data)) is data  # suspends: falls back to loop
        agen = _AsyncGen({}).process(data)
        assert coroutines.run(agen.__anext__()) is data
        assert coroutines.run(agen.__anext__()) is data
        with pytest.raises(StopAsyncIteration):
            coroutines.run(agen.__anext__())
        with pytest.raises(ZeroDivisionError):
            coroutines.run(_raises())
    finally:
        coroutines.close()


async def _raises() -> None:
    await asyncio.sleep(0)
    1 / 0  # noqa: B018 (raises inside the coroutine)


def test_a_node_from_its_folder_loads_without_importlib_metadata(tmp_path: Any) -> None:
    # About 20 ms of every runner's start; only a node found through entry points needs it.
    (tmp_path / "mine.py").write_text(
        "from berth import Node\n\nclass Mine(Node):\n    def process(self, data):\n"
        "        return data\n"
    )
    probe = (
        "import sys, berth.runner, berth.serve\n"
        "from berth.loader import find_node_class\n"
        f"assert find_node_class('Mine', [{str(tmp_path)!r}]).__name__ == 'Mine'\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    env = dict(os.environ, PYTHONPATH=RUNNER_DIR)
    proc = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "False", proc.stdout + proc.stderr


def test_version_exported() -> None:
    assert berth.__version__ == "0.1.0"


def test_loan_audio_outside_a_runner_is_an_ordinary_array() -> None:
    node = Gain({"gain": 2.0})
    out = node.loan_audio(4, 48000, channels=2, timestamp_ns=7)
    assert out.kind == "audio" and not out.loaned
    assert out.audio.samples.shape == (8,) and out.audio.samples.dtype == np.float32
    assert (out.audio.channels, out.audio.sample_rate, out.timestamp_ns) == (2, 48000, 7)
    with pytest.raises(ValueError):
        node.loan_audio(4, 0)


def test_pace_polls_only_for_a_steady_input() -> None:
    ms = 1_000_000
    pace = Pace(lead_ns=300_000)
    t = 0
    for _ in range(3):  # the first arrival and two agreeing gaps: not steady yet
        t += 20 * ms
        pace.arrived(t)
    assert pace.wake_at() == 0
    t += 20 * ms + 100_000  # a little late still agrees
    pace.arrived(t)
    assert pace.wake_at() == t + pace.period - 300_000
    assert pace.poll_until() == t + pace.period + 300_000
    assert abs(pace.period - 20 * ms) < 100_000
    # A frame that came while the runner slept: poll earlier; caught polling: drift back.
    due = pace.wake_at() + 300_000
    pace.missed()
    assert pace.wake_at() == due - 600_000
    pace.missed()
    assert pace.wake_at() == due - 1_200_000
    pace.caught(at=due, polled_from=due - 1_200_000)  # 900 us more than the lead
    assert pace.wake_at() == due - 750_000
    for _ in range(40):
        pace.missed()
    assert pace.wake_at() == due - 300_000 - Pace.MAX_EXTRA_NS
    t += 55 * ms  # a pause breaks the rhythm: sleep until the frame wakes the runner
    pace.arrived(t)
    assert pace.wake_at() == 0
    for _ in range(5):  # back to back is left to the ordinary spin
        t += 200_000
        pace.arrived(t)
        assert pace.wake_at() == 0
    off = Pace(lead_ns=0)
    for i in range(10):
        off.arrived(i * 20 * ms)
    assert off.wake_at() == 0


def test_a_ringer_finds_readers_that_come_and_go(tmp_path: Any) -> None:
    folder = str(tmp_path / "x.bells")
    ringer = Ringer(folder)
    ringer.ring()  # no reader yet
    first = Bell(folder)
    assert not first.wait(0)
    ringer.ring()
    assert first.wait(0), "a reader made after the writer is rung"
    assert not first.wait(0), "a wait takes the rings"
    first.close()
    second = Bell(folder)  # a restarted reader: a new bell, the old one gone
    ringer.ring()
    assert second.wait(0) and len(ringer.bells) == 1
    for _ in range(70_000):  # past a pipe's 64 KiB: a full bell is rung already, not an error
        ringer.ring()
    for _ in range(16):  # 4 KiB of rings a read
        second.clear()
    assert not second.wait(0)
    second.close()
    ringer.ring()
    assert ringer.bells == [], "a reader that left is not rung"
    ringer.close()
    assert os.listdir(folder) == [GENERATION]


def test_byte_array_types_are_reused_and_their_cache_stays_small() -> None:
    first = channels.byte_array(3840)
    assert first is channels.byte_array(3840)
    assert ctypes.sizeof(first) == 3840
    for length in range(1, 1000):  # text frames come in any length
        assert ctypes.sizeof(channels.byte_array(length)) == length
    assert len(channels._ARRAY_TYPES) <= 64


def test_payload_views_are_reused_by_address_and_their_cache_stays_small() -> None:
    runner = Runner(NodeSpec.parse(json.dumps(SPEC)))
    size = 4096 * (MAX_VIEWS + 8)
    memory = (ctypes.c_uint8 * size).from_buffer(bytearray(size))
    base = ctypes.addressof(memory)
    first = runner._view_at(base, 64)
    assert runner._views[base] is first and not first.flags.writeable
    assert first.size == 16 and first.ctypes.data == base
    bigger = runner._view_at(base, 128)  # the same chunk with a longer frame: a new view
    assert runner._views[base] is bigger and bigger.size == 32
    for i in range(1, MAX_VIEWS + 8):
        runner._view_at(base + 4096 * i, 64)
    assert len(runner._views) == MAX_VIEWS
    assert base not in runner._views  # the oldest went first


def test_header_views_pack_and_unpack_the_header_in_place_and_are_kept_by_address() -> None:
    size = 64 * (channels.MAX_TARGETS + 4)
    memory = (ctypes.c_uint8 * size).from_buffer(bytearray(size))
    base = ctypes.addressof(memory)
    views: dict = {}
    view = channels.header_view(base + 64, views, channels.MAX_TARGETS)
    assert views[base + 64] is view and len(view) == ctypes.sizeof(FrameHeader)
    HEADER_LAYOUT.pack_into(view, 0, 0, 1, 7, 123, 48000, 2, 3840)
    header = FrameHeader.from_address(base + 64)
    assert (header.flags, header.sequence, header.channels, header.payload_len) == (1, 7, 2, 3840)
    header.sequence = 8  # what a writer put there is what the view reads
    assert HEADER_LAYOUT.unpack_from(view)[2] == 8
    assert memory[:64] == [0] * 64, "nothing written outside the header"
    for i in range(2, channels.MAX_TARGETS + 4):
        channels.header_view(base + 64 * i, views, channels.MAX_TARGETS)
    assert len(views) == channels.MAX_TARGETS and base + 64 not in views


def test_a_step_trace_is_asked_for_by_a_folder_and_keeps_at_most_its_limit(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(steps.ENV, raising=False)
    assert steps.StepTrace.from_env("n") is None
    monkeypatch.setenv(steps.ENV, "")
    assert steps.StepTrace.from_env("n") is None, "an empty value asks for nothing"
    monkeypatch.setenv(steps.ENV, str(tmp_path / "deep" / "er"))
    trace = steps.StepTrace.from_env("n")
    assert trace is not None
    monkeypatch.setattr(steps.StepTrace, "LIMIT", 3)
    for i in range(5):
        trace.frame(i, 10 + i, 20 + i, 30 + i, 40 + i, steps.FOUND_WOKEN)
    trace.write()
    path = tmp_path / "deep" / "er" / f"steps-n-{os.getpid()}.json"
    rows = json.loads(path.read_text())["frames"]
    assert [row[:5] for row in rows] == [[i, 10 + i, 20 + i, 30 + i, 40 + i] for i in range(3)]
    assert [row[6] for row in rows] == [steps.FOUND_WOKEN] * 3


def test_a_reader_that_promised_to_look_again_soon_is_not_rung(tmp_path: Any) -> None:
    folder = str(tmp_path / "bells")
    reader = Bell(folder)
    ringer = Ringer(folder)
    now = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    reader.promise(now + 10_000_000_000)
    ringer.ring()
    assert len(ringer.bells) == 1, "a promise is not a bell"
    assert not reader.wait(0), "promised for 10 s: not rung"
    reader.promise(time.clock_gettime_ns(time.CLOCK_MONOTONIC) + AWAKE_MARGIN_NS // 2)
    ringer.ring()
    assert reader.wait(0), "a promise ending within the margin: rung"
    reader.promise(0)
    ringer.ring()
    assert reader.wait(0), "an old promise: rung"
    reader.close()
    ringer.close()
    assert os.listdir(folder) == [GENERATION], "a closed bell leaves neither pipe nor promise"
