"""The node spec the host passes to `python -m berth.runner` (docs/PROTOCOL.md)."""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

DEFAULT_SPIN_US = 50
DEFAULT_MAX_FRAME_BYTES = 1 << 20
DEFAULT_EXIT_LINGER_MS = 500
DEFAULT_STATS_INTERVAL_MS = 1000

_REQUIRED = (
    "session_id",
    "node_id",
    "node_type",
    "inputs",
    "output",
    "control",
    "iceoryx2_prefix",
)


class SpecError(ValueError):
    """The spec is not valid JSON or misses / mistypes a field."""


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
    node_dirs: List[str] = field(default_factory=list)
    spin_us: int = DEFAULT_SPIN_US
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

    @classmethod
    def parse(cls, text: str) -> "NodeSpec":
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise SpecError(f"node spec is not valid JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise SpecError("node spec must be a JSON object")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: Dict[str, Any]) -> "NodeSpec":
        missing = [key for key in _REQUIRED if key not in raw]
        if missing:
            raise SpecError(f"node spec misses {', '.join(missing)}")

        def text(key: str) -> str:
            value = raw[key]
            if not isinstance(value, str) or not value:
                raise SpecError(f"node spec field {key!r} must be a non-empty string")
            return value

        def strings(key: str) -> List[str]:
            value = raw.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SpecError(f"node spec field {key!r} must be a list of strings")
            return list(value)

        def integer(key: str, default: int) -> int:
            value = raw.get(key, default)
            if value is None:
                return default
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise SpecError(f"node spec field {key!r} must be a non-negative integer")
            return value

        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise SpecError("node spec field 'params' must be an object")
        driver = raw.get("coroutine_driver") or "inline"
        if driver not in ("inline", "loop"):
            raise SpecError("node spec field 'coroutine_driver' must be 'inline' or 'loop'")
        module = raw.get("module")
        if module is not None and not isinstance(module, str):
            raise SpecError("node spec field 'module' must be a string")
        root = raw.get("iceoryx2_root")
        if root is not None and not isinstance(root, str):
            raise SpecError("node spec field 'iceoryx2_root' must be a string")
        max_frame_bytes = integer("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES)
        if max_frame_bytes == 0:
            raise SpecError("node spec field 'max_frame_bytes' must be > 0")
        return cls(
            session_id=text("session_id"),
            node_id=text("node_id"),
            node_type=text("node_type"),
            inputs=strings("inputs"),
            output=text("output"),
            control=text("control"),
            iceoryx2_prefix=text("iceoryx2_prefix"),
            params=params,
            iceoryx2_root=root or None,
            node_dirs=strings("node_dirs"),
            spin_us=integer("spin_us", DEFAULT_SPIN_US),
            max_frame_bytes=max_frame_bytes,
            module=module or None,
            coroutine_driver=driver,
            exit_linger_ms=integer("exit_linger_ms", DEFAULT_EXIT_LINGER_MS),
            timeout_ms=integer("timeout_ms", 0),
            stats_interval_ms=integer("stats_interval_ms", DEFAULT_STATS_INTERVAL_MS),
        )
