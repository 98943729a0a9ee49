"""`python -m berth.runner --serve '<json>'`: one shared runner serving many sessions.

A shared container runs this server instead of a single node. The host sends it commands on
the container's own channel (`{runtime}_{name}_input`) and it answers on `{runtime}_{name}_control`
(docs/PROTOCOL.md, "Shared runners"):

- `attach {instance, spec}` starts a node instance for one session: its own `Runner` (its own
  `params`, its own state, its own iceoryx2 node under the session's prefix) on a thread of
  its own. The instance speaks to its session exactly as a single-node runner does (`ready`,
  `error`, `fatal`, `stopped` on the session's control channel), so frames never cross
  sessions.
- `detach {instance}` asks that instance to stop; when its thread has closed every port of
  the session, the server answers `detached {instance, code}` (also when the instance ended by
  itself: end of stream, or a fatal error).

The blocking waits of every thread release the GIL, so an idle instance costs nothing; the
instances share one interpreter, so one instance's `process()` holds up another's while it runs
Python code (limits apply to the container as a whole).
"""

import ctypes
import json
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import iceoryx2 as iox2

from .channels import Channels, OutputPort
from .frame import END_OF_STREAM, KIND_CONTROL, FrameHeader, monotonic_ns
from .runner import WAIT_TIMEOUT_MS, Runner, StopFlag, ready_message
from .spec import NodeSpec, SpecError, checked, doorbell, load

JOIN_TIMEOUT_S = 5.0
"""How long a stopping server waits for each instance to finish."""

_u8 = ctypes.c_uint8


@dataclass
class ServeSpec:
    """Where the server's own channels are."""

    pool_id: str
    name: str
    commands: str
    control: str
    iceoryx2_prefix: str
    iceoryx2_root: Optional[str] = None
    iceoryx2_doorbell: str = "event"

    @classmethod
    def parse(cls, text: str) -> "ServeSpec":
        raw = checked(load(text, "serve spec"), "serve", "serve spec")
        root = raw.get("iceoryx2_root")
        return cls(
            pool_id=raw["pool_id"],
            name=raw["name"],
            commands=raw["commands"],
            control=raw["control"],
            iceoryx2_prefix=raw["iceoryx2_prefix"],
            iceoryx2_root=root if isinstance(root, str) and root else None,
            iceoryx2_doorbell=doorbell(raw, "serve spec"),
        )


class Instance:
    """One session's node, running on its own thread."""

    def __init__(self, instance: str, runner: Any) -> None:
        self.instance = instance
        self.runner = runner
        self.thread: Optional[threading.Thread] = None


class Server:
    """Reads commands, runs one `Runner` per attached instance, reports detaches."""

    def __init__(self, spec: ServeSpec, stop: Any) -> None:
        self.spec = spec
        self.stop = stop
        self.channels: Optional[Channels] = None
        self.control: Optional[OutputPort] = None
        self.instances: Dict[str, Instance] = {}
        self._send_lock = threading.Lock()

    def log(self, message: str) -> None:
        print(f"berth[{self.spec.name}] {message}", file=sys.stderr, flush=True)

    def send(self, message: Dict[str, Any]) -> None:
        """Sends a reply; callable from every instance thread."""
        payload = json.dumps(message).encode("utf-8")
        with self._send_lock:
            if self.control is None:
                return
            try:
                self.control.send_bytes(KIND_CONTROL, payload, monotonic_ns())
            except Exception as exc:
                self.log(f"could not send {message.get('type')}: {exc!r}")

    def run(self) -> int:
        spec = self.spec
        try:
            self.channels = Channels(
                spec.iceoryx2_prefix,
                spec.iceoryx2_root,
                f"berth-serve-{spec.name}",
                spec.iceoryx2_doorbell,
            )
            self.control = self.channels.open_control(spec.control)
            commands = self.channels.open_input(spec.commands)
        except Exception:
            self.log("cannot open the server's channels:\n" + traceback.format_exc())
            self.close()
            return 1
        self.send(ready_message())
        self.log(f"serving {spec.name}: commands on {spec.commands!r}")
        receive = commands.subscriber.receive
        wait = commands.wait
        try:
            while not self.stop.requested:
                sample = receive()
                if sample is None:
                    try:
                        wait(WAIT_TIMEOUT_MS)
                    except iox2.ListenerWaitError:
                        time.sleep(0.001)
                    self._reap()
                    continue
                header = FrameHeader.from_address(sample.user_header_ptr)
                length = sample.header.number_of_elements
                payload = bytes((_u8 * length).from_address(sample.payload_ptr))
                sample.delete()
                if header.flags & END_OF_STREAM:
                    self.log("the host closed the command channel")
                    break
                self.command(payload)
        finally:
            self.shutdown()
        return 0

    def command(self, payload: bytes) -> None:
        try:
            message = json.loads(payload)
            kind = message["type"]
            instance = message["instance"]
        except (ValueError, KeyError, TypeError) as exc:
            self.log(f"unreadable command {payload[:200]!r}: {exc!r}")
            return
        if kind == "attach":
            self.attach(instance, message.get("spec"))
        elif kind == "detach":
            running = self.instances.get(instance)
            if running is None:
                self.send({"type": "detached", "instance": instance, "code": 0})
            else:
                running.runner.stop.request()
        else:
            self.log(f"unknown command {kind!r}")

    def attach(self, instance: str, raw: Any) -> None:
        self._reap()  # an instance that has just ended makes room for one of the same name
        if instance in self.instances:
            self.send(
                {
                    "type": "detached",
                    "instance": instance,
                    "code": 1,
                    "error": f"instance {instance} is already attached",
                }
            )
            return
        try:
            if not isinstance(raw, dict):
                raise SpecError("attach carries no node spec")
            spec = NodeSpec.from_dict(raw)
        except SpecError as exc:
            self.send({"type": "detached", "instance": instance, "code": 1, "error": str(exc)})
            return
        running = Instance(instance, Runner(spec, StopFlag()))
        thread = threading.Thread(
            target=self._run_instance, args=(running,), name=f"berth-{instance}", daemon=True
        )
        running.thread = thread
        self.instances[instance] = running
        self.log(f"attach {instance} ({spec.node_type})")
        thread.start()

    def _run_instance(self, running: Instance) -> None:
        code = 1
        try:
            code = running.runner.run()
        except BaseException:
            self.log(f"instance {running.instance} failed:\n{traceback.format_exc()}")
        finally:
            try:
                running.runner.close()  # already closed after a normal end; here for the others
            finally:
                # Every port of the session is closed by now: the host may remove its channels.
                self.send({"type": "detached", "instance": running.instance, "code": code})

    def _reap(self) -> None:
        for instance, running in list(self.instances.items()):
            if running.thread is not None and not running.thread.is_alive():
                running.thread.join()
                del self.instances[instance]

    def shutdown(self) -> None:
        """Stops every instance, waits for each, then closes the server's ports."""
        for running in self.instances.values():
            running.runner.stop.request()
        for running in self.instances.values():
            if running.thread is not None:
                running.thread.join(JOIN_TIMEOUT_S)
                if running.thread.is_alive():
                    self.log(f"instance {running.instance} did not stop within {JOIN_TIMEOUT_S} s")
        self.instances.clear()
        self.close()

    def close(self) -> None:
        with self._send_lock:
            self.control = None
            if self.channels is not None:
                self.channels.close()
                self.channels = None


def parse_and_serve(text: str, stop: Any) -> Tuple[int, Optional[Server]]:
    """Parses the serve spec and runs the server until stopped; returns its exit code."""
    try:
        spec = ServeSpec.parse(text)
    except SpecError as exc:
        print(f"berth: invalid serve spec: {exc}", file=sys.stderr, flush=True)
        return 1, None
    server = Server(spec, stop)
    return server.run(), server
