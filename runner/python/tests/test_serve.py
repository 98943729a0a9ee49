"""The shared runner (`--serve`): one process, one node instance per attached session, each on
its own session's channels; real iceoryx2 shared memory."""

import json
import os
import subprocess
import sys
from typing import Any, Callable, Dict

import numpy as np
import pytest
from hostsim import ROOT_PATH, RUNNER_DIR, Host

from berth.frame import END_OF_STREAM, KIND_CONTROL
from berth.serve import ServeSpec
from berth.spec import SpecError

FRAME = 960


def serve_spec(pool: Host) -> Dict[str, Any]:
    """What the host starts a shared runner with (checked against the contract in
    test_contract.py)."""
    return {
        "pool_id": pool.session,
        "name": "serve",
        "commands": pool.input.name,
        "control": pool.control.name,
        "iceoryx2_prefix": pool.prefix,
        "iceoryx2_root": ROOT_PATH,
        "iceoryx2_doorbell": pool.doorbell,
    }


def start_server(pool: Host) -> "subprocess.Popen[bytes]":
    spec = serve_spec(pool)
    env = dict(os.environ, PYTHONPATH=RUNNER_DIR)
    with open(pool.log_path, "wb") as log:
        pool.proc = subprocess.Popen(
            [sys.executable, "-m", "berth.runner", "--serve", json.dumps(spec)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return pool.proc


def command(pool: Host, message: Dict[str, Any]) -> None:
    pool.input.send(KIND_CONTROL, json.dumps(message).encode("utf-8"))


def attach(pool: Host, session: Host, **spec: Any) -> str:
    instance = f"{session.session}_{session.node_id}"
    command(pool, {"type": "attach", "instance": instance, "spec": session.spec("Gain", **spec)})
    return instance


def assert_gain(session: Host, gain: float, frames: int = 5) -> None:
    rng = np.random.default_rng(7)
    for _ in range(frames):
        x = rng.standard_normal(FRAME).astype(np.float32)
        session.send_audio(x)
        out = session.receive()
        assert out.payload == (x * np.float32(gain)).tobytes()


@pytest.mark.parametrize("doorbell", ["event", "fifo"])
def test_two_sessions_each_get_their_own_instance(
    make_host: Callable[..., Host], doorbell: str
) -> None:
    pool = make_host("serve", doorbell=doorbell)
    a, b = make_host(doorbell=doorbell), make_host(doorbell=doorbell)
    start_server(pool)
    assert pool.wait_ready()["type"] == "ready"
    one = attach(pool, a, params={"gain": 0.5})
    attach(pool, b, params={"gain": 2.0})
    a.wait_ready()
    b.wait_ready()
    for _ in range(2):  # interleaved: state and params never mix
        assert_gain(a, 0.5)
        assert_gain(b, 2.0)

    command(pool, {"type": "detach", "instance": one})
    assert a.wait_control("stopped")["reason"] == "signal"
    detached = pool.wait_control("detached")
    assert (detached["instance"], detached["code"]) == (one, 0)
    assert_gain(b, 2.0)  # the other session goes on

    # End of stream on b's input ends its instance by itself.
    b.input.send(KIND_CONTROL, b"", flags=END_OF_STREAM)
    assert b.wait_control("stopped")["reason"] == "end_of_stream"
    assert pool.wait_control("detached")["code"] == 0

    pool.input.send(KIND_CONTROL, b"", flags=END_OF_STREAM)
    assert pool.wait_exit() == 0


def test_a_bad_attach_is_refused_and_the_server_goes_on(make_host: Callable[..., Host]) -> None:
    pool, a = make_host("serve"), make_host()
    start_server(pool)
    pool.wait_ready()
    command(pool, {"type": "attach", "instance": "x_node", "spec": {"node_id": "node"}})
    refused = pool.wait_control("detached")
    assert refused["code"] == 1 and "misses" in refused["error"]

    # A node that cannot load reports `fatal` to its session, then leaves with code 1.
    instance = f"{a.session}_{a.node_id}"
    spec = a.spec("NoSuchNode")
    command(pool, {"type": "attach", "instance": instance, "spec": spec})
    fatal = a.wait_control("fatal")
    assert fatal["stage"] == "load" and "NoSuchNode" in fatal["error"]
    assert pool.wait_control("detached") == {"type": "detached", "instance": instance, "code": 1}

    pool.terminate()
    assert pool.wait_exit() == 0


def test_serve_spec_names_what_is_missing() -> None:
    try:
        ServeSpec.parse(json.dumps({"pool_id": "p", "name": "n"}))
    except SpecError as exc:
        assert "commands" in str(exc) and "control" in str(exc)
    else:
        raise AssertionError("a spec without channels must be refused")


SLOW_IMPORT_NODE = """
import time
from berth import Node, RuntimeData

time.sleep(0.3)  # a slow import (a big library): other instances attach meanwhile


class SlowImport(Node):
    async def process(self, data: RuntimeData) -> RuntimeData:
        return data
"""


def test_instances_attaching_at_once_all_find_a_node_still_being_imported(
    make_host: Callable[..., Host], tmp_path: Any
) -> None:
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    (nodes / "slow_import.py").write_text(SLOW_IMPORT_NODE)
    pool = make_host("serve")
    sessions = [make_host() for _ in range(4)]
    start_server(pool)
    pool.wait_ready()
    for session in sessions:
        command(
            pool,
            {
                "type": "attach",
                "instance": f"{session.session}_{session.node_id}",
                "spec": session.spec("SlowImport", node_dirs=[str(nodes)]),
            },
        )
    for session in sessions:
        assert session.wait_ready()["type"] == "ready", session.logs()
        session.send_text("hi")
        assert session.receive().text() == "hi"
    pool.terminate()
    assert pool.wait_exit() == 0
