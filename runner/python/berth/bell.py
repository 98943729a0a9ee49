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
"""

import errno
import mmap
import os
import select
import struct
from typing import List, Sequence

_FLAGS = os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC
_RING = b"\x01"
_DRAIN = 4096
GENERATION = ".generation"
_u64 = struct.Struct("<Q")


class Generation:
    """A bells folder's `.generation` counter, mapped (made if missing)."""

    __slots__ = ("map",)

    map: mmap.mmap

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        path = os.path.join(directory, GENERATION)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            if os.fstat(fd).st_size < 8:
                os.ftruncate(fd, 8)  # the first to open it; never shrinks one in use
            self.map = mmap.mmap(fd, 8)
        finally:
            os.close(fd)

    def get(self) -> int:
        return int(_u64.unpack_from(self.map, 0)[0])

    def bump(self) -> None:
        """Adds one. Not atomic: of two readers that bump at once one increment may be lost,
        but the counter still moves, which is all a writer looks for."""
        _u64.pack_into(self.map, 0, (self.get() + 1) & 0xFFFF_FFFF_FFFF_FFFF)

    def close(self) -> None:
        self.map.close()


def folder(root: str, prefix: str, channel: str) -> str:
    """The folder of `channel`'s doorbells."""
    return os.path.join(root, f"{prefix}{channel}.bells")


class Bell:
    """A reader's doorbell: readable while a ring is pending."""

    __slots__ = ("fd", "path", "generation")

    def __init__(self, directory: str) -> None:
        self.generation = Generation(directory)
        self.path = os.path.join(directory, os.urandom(8).hex())
        os.mkfifo(self.path, 0o600)
        try:
            self.fd = os.open(self.path, _FLAGS)
        except OSError:
            os.unlink(self.path)
            self.generation.close()
            raise
        self.generation.bump()

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
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.generation.bump()
            self.generation.close()


def wait_any(bells: Sequence[Bell], timeout_s: float) -> None:
    """Waits up to `timeout_s` for a ring of any of `bells` (GIL released)."""
    select.select(bells, (), (), timeout_s)


class Ringer:
    """A writer's side of the bells of one channel."""

    __slots__ = ("directory", "generation", "seen", "fds")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.generation = Generation(directory)
        self.seen = -1
        self.fds: List[int] = []

    def ring(self) -> None:
        """Rings every reader's bell."""
        generation = self.generation.get()
        if generation != self.seen:
            self._reopen()
            self.seen = generation
        for fd in self.fds:
            try:
                os.write(fd, _RING)
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
            if name == GENERATION:
                continue
            try:
                self.fds.append(os.open(os.path.join(self.directory, name), _FLAGS))
            except OSError as exc:
                if exc.errno != errno.ENOENT:  # its reader removed it meanwhile
                    raise

    def _close_bells(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def close(self) -> None:
        self._close_bells()
        self.generation.close()
