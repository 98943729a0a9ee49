"""Where a frame's time goes inside the runner: per-frame step times, kept when the
environment names a folder in `BERTH_STEP_TRACE` and written there when the runner closes.

One file per runner, `steps-{node_id}-{pid}.json`: `{"node_id", "pid", "fields", "frames"}`,
a row of `fields` per frame (at most `StepTrace.LIMIT`). Times are `CLOCK_MONOTONIC` ns, the
clock of frame timestamps, so a host that stamps its frames when it sends them (as
`Session::send_audio` does) can line each row up with its own times: `timestamp` (the
frame's), `found` (the runner took it from its input), `called` (decoded, `process()` called),
`returned` (`process()` returned, or its coroutine ended), `done` (outputs sent, the input
given back), `cpu`, the CPU the runner was on when done, and `how` it came to the frame:
`FOUND_POLLING` (looking for it), `FOUND_WOKEN_AHEAD` (it came during the sleep until just
before it was due) or `FOUND_WOKEN` (its ring ended a sleep). Off unless asked for: a
runner without it pays one `is None` test per step.
"""

import ctypes
import json
import os
from typing import Callable, List, Optional, Tuple

ENV = "BERTH_STEP_TRACE"
FIELDS = ("timestamp", "found", "called", "returned", "done", "cpu", "how")

FOUND_POLLING = 0
"""The runner was polling (or its input held more frames) when the frame came."""
FOUND_WOKEN_AHEAD = 1
"""The frame came while the runner slept until just before it was due: its ring ended the
sleep (a doorbell), or it waited for the sleep's end (the event service's last stretch)."""
FOUND_WOKEN = 2
"""The frame's ring woke the runner from a sleep (its input not steadily paced, or the
frame later than its polling window)."""

Row = Tuple[int, int, int, int, int, int, int]


def _cpu_reader() -> Callable[[], int]:
    try:
        return ctypes.CDLL(None).sched_getcpu
    except (OSError, AttributeError):  # not glibc: the CPU is not recorded
        return lambda: -1


class StepTrace:
    """The step times of the frames a runner handles."""

    __slots__ = ("path", "node_id", "rows", "_cpu")

    LIMIT = 100_000
    """Frames kept (the first ones): about 6 MB of rows."""

    def __init__(self, folder: str, node_id: str) -> None:
        self.path = os.path.join(folder, f"steps-{node_id}-{os.getpid()}.json")
        self.node_id = node_id
        self.rows: List[Row] = []
        self._cpu = _cpu_reader()

    @classmethod
    def from_env(cls, node_id: str) -> Optional["StepTrace"]:
        """A trace into the folder `BERTH_STEP_TRACE` names; None when it names none."""
        folder = os.environ.get(ENV)
        return cls(folder, node_id) if folder else None

    def frame(
        self, timestamp: int, found: int, called: int, returned: int, done: int, how: int
    ) -> None:
        if len(self.rows) < self.LIMIT:
            self.rows.append((timestamp, found, called, returned, done, self._cpu(), how))

    def write(self) -> None:
        """Writes the rows (the folder made if missing)."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        body = {
            "node_id": self.node_id,
            "pid": os.getpid(),
            "fields": FIELDS,
            "frames": self.rows,
        }
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(body, f)
