"""Doorbells: a named pipe (FIFO) per reader, which a channel's writers ring after every send.

The host's iceoryx2 transport with `Doorbell::Fifo` (spec `iceoryx2_doorbell: "fifo"`) wakes
readers this way instead of through iceoryx2's event service (compared side by side in
BENCHMARKS.md, "Waiting"). A channel's bells live in one folder,
`{root}/{prefix}{channel}.bells`, a FIFO per reader under a random name, made before the reader
subscribes, and `.generation`, a 64-bit counter in shared memory that a reader increments after
it made its bell and after it removed it. A writer keeps the bells open and reads the counter
at every ring (no system call; a `stat` of the folder doubled a paced ring's cost here):
when it moved, it opens the bells anew. Both ends open a bell read-write and non-blocking, so
a ring never blocks and a dead reader's bell only fills up. The contract is the Rust side's
(`plugins/berth-iceoryx2/src/bell.rs`).

A reader that polls says so: beside its bell, `{bell}.awake` holds a `CLOCK_MONOTONIC` time
before which the reader promises to look at its input again without sleeping (`Bell.promise`).
A writer that finds that time more than `AWAKE_MARGIN_NS` ahead of its clock, after its send,
does not ring: the reader will see the frame without it. A reader keeps every promise (it
never blocks before the latest one has passed), so a writer that reads an old one is still
right; the margin covers the time a sent frame takes to become visible to another CPU.
"""

import errno
import functools
import mmap
import os
import select
import struct
import time
from typing import List, Optional, Sequence, Tuple

_FLAGS = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC
_RING = b"\x01"
_DRAIN = 4096
GENERATION = ".generation"
_word = struct.Struct("Q")
"""A shared 64-bit word, as the Rust side's `AtomicU64`: native, packed and read with one
8-byte copy, so a promise is never read torn."""
AWAKE = ".awake"
"""The suffix of a bell's promise file (`{bell}.awake`)."""
AWAKE_MARGIN_NS = 20_000
"""How far ahead a promise must reach for a writer to skip a ring."""


def _map_word(path: str, create: bool) -> mmap.mmap:
    """Maps the 8-byte file at `path` (made, and sized, when `create`)."""
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    fd = os.open(path, flags, 0o600)
    try:
        if os.fstat(fd).st_size < 8:
            if not create:
                raise FileNotFoundError(path)  # its reader is still making it: ring
            os.ftruncate(fd, 8)  # the first to open it; never shrinks one in use
        return mmap.mmap(fd, 8)
    finally:
        os.close(fd)


class Generation:
    """A bells folder's `.generation` counter, mapped (made if missing)."""

    __slots__ = ("map",)

    map: mmap.mmap

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.map = _map_word(os.path.join(directory, GENERATION), create=True)

    def get(self) -> int:
        return int(_word.unpack_from(self.map, 0)[0])

    def bump(self) -> None:
        """Adds one. Not atomic: of two readers that bump at once one increment may be lost,
        but the counter still moves, which is all a writer looks for."""
        _word.pack_into(self.map, 0, (self.get() + 1) & 0xFFFF_FFFF_FFFF_FFFF)

    def close(self) -> None:
        self.map.close()


def folder(root: str, prefix: str, channel: str) -> str:
    """The folder of `channel`'s doorbells."""
    return os.path.join(root, f"{prefix}{channel}.bells")


class Bell:
    """A reader's doorbell: readable while a ring is pending."""

    __slots__ = ("fd", "path", "generation", "awake", "promise")

    def __init__(self, directory: str) -> None:
        self.generation = Generation(directory)
        self.path = os.path.join(directory, os.urandom(8).hex())
        # The promise file first: a writer that finds the bell finds its promise too.
        self.awake = _map_word(self.path + AWAKE, create=True)
        #: `promise(until_ns)`: the reader will look at its input again, without sleeping,
        #: until `until_ns` (`CLOCK_MONOTONIC`); it must keep the promise.
        self.promise = functools.partial(_word.pack_into, self.awake, 0)
        try:
            os.mkfifo(self.path, 0o600)
            self.fd = os.open(self.path, _FLAGS)
        except OSError:
            self._remove_files()
            self.generation.close()
            raise
        self.generation.bump()

    def _remove_files(self) -> None:
        for path in (self.path, self.path + AWAKE):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        self.awake.close()

    def fileno(self) -> int:
        return self.fd

    def wait(self, timeout_s: float) -> bool:
        """Waits up to `timeout_s` for a ring (GIL released) and takes the rings; True when
        one came."""
        if select.select((self.fd,), (), (), timeout_s)[0]:
            self.clear()
            return True
        return False

    def clear(self) -> None:
        """Takes every pending ring without waiting: one read, as a reader is rung once a
        frame and its queue holds far fewer frames than the read takes rings (a ring left
        over only ends the next wait at once)."""
        try:
            os.read(self.fd, _DRAIN)
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self._remove_files()
            self.generation.bump()
            self.generation.close()


def wait_any(bells: Sequence[Bell], timeout_s: float) -> None:
    """Waits up to `timeout_s` for a ring of any of `bells` (GIL released)."""
    select.select(bells, (), (), timeout_s)


_read_word = _word.unpack_from
_clock = time.clock_gettime_ns
_MONOTONIC = time.CLOCK_MONOTONIC
_write = os.write


class Ringer:
    """A writer's side of the bells of one channel."""

    __slots__ = ("directory", "generation", "seen", "bells")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.generation = Generation(directory)
        self.seen = -1
        #: Each bell's descriptor and its promise file, mapped (None: its reader has none
        #: yet; always rung).
        self.bells: List[Tuple[int, Optional[mmap.mmap]]] = []

    def ring(self) -> None:
        """Rings every reader's bell, but for readers that promised to look again soon. On
        every frame's path: module-level names, no method calls but the write."""
        generation = _read_word(self.generation.map, 0)[0]
        if generation != self.seen:
            self._reopen()
            self.seen = generation
        soon = 0
        for fd, awake in self.bells:
            if awake is not None:
                if not soon:
                    soon = _clock(_MONOTONIC) + AWAKE_MARGIN_NS
                if _read_word(awake, 0)[0] > soon:
                    continue
            try:
                _write(fd, _RING)
            except BlockingIOError:  # full: rung many times and not cleared, so rung already
                pass

    def _reopen(self) -> None:
        """Opens the bells in the folder now (the counter was read first, so a bell made
        during the listing is found here or at the next ring)."""
        self._close_bells()
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:  # the session's folders are being swept: no reader left
            return
        for name in names:
            if name == GENERATION or name.endswith(AWAKE):
                continue
            path = os.path.join(self.directory, name)
            try:
                fd = os.open(path, _FLAGS)
            except OSError as exc:
                if exc.errno != errno.ENOENT:  # its reader removed it meanwhile
                    raise
                continue
            try:
                awake: Optional[mmap.mmap] = _map_word(path + AWAKE, create=False)
            except OSError:  # a reader without promises (or leaving): always rung
                awake = None
            self.bells.append((fd, awake))

    def _close_bells(self) -> None:
        for fd, awake in self.bells:
            os.close(fd)
            if awake is not None:
                awake.close()
        self.bells = []

    def close(self) -> None:
        self._close_bells()
        self.generation.close()
