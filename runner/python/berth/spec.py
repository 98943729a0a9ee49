"""The node spec the host passes to `python -m berth.runner` (docs/PROTOCOL.md), checked against
the runner contract's schema (`spec.schema.json`, generated from the host's typed spec)."""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .schema import SchemaError, validate

DEFAULT_SPIN_US = 50
DEFAULT_MAX_FRAME_BYTES = 1 << 20
DEFAULT_EXIT_LINGER_MS = 500
DEFAULT_STATS_INTERVAL_MS = 1000
DEFAULT_SEND_TIMEOUT_MS = 2000


class SpecError(ValueError):
    """The spec is not valid JSON or misses / mistypes a field."""


def load(text: str, what: str) -> Dict[str, Any]:
    """Parses a spec's JSON text; it must be an object."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{what} must be a JSON object")
    return raw


DOORBELLS = ("event", "fifo")
"""How writers wake readers (`iceoryx2_doorbell`): iceoryx2's event service, or named pipes."""


def doorbell(raw: Dict[str, Any], what: str) -> str:
    """The spec's `iceoryx2_doorbell` (how writers wake readers; "event" when absent)."""
    value = raw.get("iceoryx2_doorbell") or "event"
    if value not in DOORBELLS:
        raise SpecError(
            f"{what} field 'iceoryx2_doorbell' must be one of {', '.join(DOORBELLS)} "
            f"(got {value!r}); the host and this runner are of different Berth versions"
        )
    return str(value)


def checked(raw: Dict[str, Any], schema_name: str, what: str) -> Dict[str, Any]:
    """`raw`, once it fits the contract's schema `schema_name` and carries the transport field
    this runner needs (`iceoryx2_prefix`)."""
    try:
        validate(raw, schema_name, what)
    except SchemaError as exc:
        raise SpecError(str(exc)) from exc
    prefix = raw.get("iceoryx2_prefix")
    if not isinstance(prefix, str) or not prefix:
        raise SpecError(f"{what} misses iceoryx2_prefix (the transport's field this runner needs)")
    return raw


@dataclass
class NodeSpec:
    session_id: str
    node_id: str
    node_type: str
    inputs: List[str]
    output: str
    control: str
    iceoryx2_prefix: str
    params: Dict[str, Any] = field(default_factory=dict)
    iceoryx2_root: Optional[str] = None
    #: How writers wake readers: "event" (iceoryx2's event service) or "fifo" (`bell.py`).
    iceoryx2_doorbell: str = "event"
    node_dirs: List[str] = field(default_factory=list)
    spin_us: int = DEFAULT_SPIN_US
    #: How long before a steadily paced input's next frame is due the runner polls for it
    #: (µs); 0: it sleeps until the frame's wake-up.
    anticipate_us: int = 0
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    #: Optional importable module that defines `node_type`.
    module: Optional[str] = None
    #: "inline" (default) runs coroutines that never suspend without the event loop;
    #: "loop" always uses `loop.run_until_complete` (for comparison).
    coroutine_driver: str = "inline"
    #: How long the runner keeps its ports open after a `fatal` message before exiting.
    exit_linger_ms: int = DEFAULT_EXIT_LINGER_MS
    #: Longest `process()` may take for one frame (ms); 0: no limit. Past it the runner sends
    #: `hung` and ends its process, for the host to restart.
    timeout_ms: int = 0
    #: How often the runner reports what its `process()` calls cost (`stats`), in ms.
    stats_interval_ms: int = DEFAULT_STATS_INTERVAL_MS
    #: How long a send waits for a reader whose queue is full before the runner gives up
    #: (`fatal`), in ms.
    send_timeout_ms: int = DEFAULT_SEND_TIMEOUT_MS
    #: `SCHED_FIFO` priority (1-99) of the thread that runs the node; 0: the ordinary policy.
    realtime_priority: int = 0

    @classmethod
    def parse(cls, text: str) -> "NodeSpec":
        return cls.from_dict(load(text, "node spec"))

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "NodeSpec":
        """Checks `raw` against the runner contract (`spec.schema.json`), then reads it."""
        checked(raw, "runner", "node spec")

        def number(key: str, default: int) -> int:
            value = raw.get(key)
            return default if value is None else int(value)

        return cls(
            session_id=raw["session_id"],
            node_id=raw["node_id"],
            node_type=raw["node_type"],
            inputs=list(raw["inputs"]),
            output=raw["output"],
            control=raw["control"],
            iceoryx2_prefix=raw["iceoryx2_prefix"],
            params=dict(raw.get("params") or {}),
            iceoryx2_root=raw.get("iceoryx2_root") or None,
            iceoryx2_doorbell=doorbell(raw, "node spec"),
            node_dirs=list(raw.get("node_dirs") or []),
            spin_us=number("spin_us", DEFAULT_SPIN_US),
            anticipate_us=number("anticipate_us", 0),
            max_frame_bytes=number("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES),
            module=raw.get("module") or None,
            coroutine_driver=raw.get("coroutine_driver") or "inline",
            exit_linger_ms=number("exit_linger_ms", DEFAULT_EXIT_LINGER_MS),
            timeout_ms=number("timeout_ms", 0),
            stats_interval_ms=number("stats_interval_ms", DEFAULT_STATS_INTERVAL_MS),
            send_timeout_ms=number("send_timeout_ms", DEFAULT_SEND_TIMEOUT_MS),
            realtime_priority=number("realtime_priority", 0),
        )
