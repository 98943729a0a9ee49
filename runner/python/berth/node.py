"""The `Node` base class that pipeline nodes subclass."""

from typing import Any, Dict, Mapping, Optional

import numpy as np

from .data import RuntimeData


class Node:
    """Base class for Berth nodes.

    Subclasses override `process()` and optionally `initialize()` / `cleanup()`. The runner
    finds the subclass by its class name (the spec's `node_type`) and constructs it as
    `cls(params, node_id=...)`.

    `process(data)` may be written in any of these forms:

    - `async def process(self, data)` returning a `RuntimeData`, a list of them, or `None`
      (nothing is sent for that input);
    - an async generator (`async def` with `yield`) yielding any number of outputs;
    - a plain `def` returning a value, or a generator yielding outputs.

    `initialize()` and `cleanup()` may be plain or `async def`. A node with no `async def`
    never imports asyncio (about 40 ms of a container's start) and skips a coroutine per frame.

    Input audio is a read-only view on shared memory that is released when `process()`
    returns (or the generator is exhausted): `.copy()` anything you keep.
    """

    def __init__(
        self, params: Optional[Mapping[str, Any]] = None, node_id: str = "", **kw: Any
    ) -> None:
        self.params: Dict[str, Any] = dict(params or {})
        self.node_id = node_id
        self.options = kw

    def initialize(self) -> Any:
        """Called once before the first frame; load models etc. here. May be `async def`."""

    def process(self, data: RuntimeData) -> Any:
        """Handle one input frame (see the class docs for the allowed forms)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement process()")

    def cleanup(self) -> Any:
        """Called once when the node stops (end of stream or SIGTERM/SIGINT). May be
        `async def`."""

    def loan_audio(
        self,
        num_frames: int,
        sample_rate: int,
        channels: int = 1,
        timestamp_ns: Optional[int] = None,
    ) -> RuntimeData:
        """An audio output to write in place, in the shared memory it will be sent from:
        `out = self.loan_audio(n, rate)`, `np.multiply(x, g, out=out.audio.samples)`,
        `return out`. Returning it sends it without a copy (a fresh array is copied once).
        `samples` is 1-D interleaved float32, uninitialised: write every value. Once returned
        it belongs to the readers; do not touch it again. At most two loans of a node can be
        outstanding at once (iceoryx2's publisher default); one not returned is given back
        when it is garbage collected. Outside a runner (e.g. in a unit test) it is an ordinary
        array."""
        if num_frames < 0 or channels < 1:
            raise ValueError("loan_audio needs num_frames >= 0 and channels >= 1")
        if sample_rate <= 0:
            raise ValueError("sample_rate must be > 0")
        port = self.__dict__.get("_berth_output")
        count = num_frames * channels
        if port is None:
            samples = np.empty(count, np.float32)
            return RuntimeData.audio(samples, sample_rate, channels, timestamp_ns)
        loan, view = port.loan_audio(count, sample_rate, channels)
        return RuntimeData._loaned((port, loan, view), view, sample_rate, channels, timestamp_ns)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(node_id={self.node_id!r})"
