"""Stops the runner when the host that started it is gone.

The host holds an exclusive lock on its session's owner file (`$BERTH_OWNER_LOCK`) while the
session lives; the kernel frees it when the host dies, however it dies. A thread here blocks
on a shared lock of the same file (no polling; the GIL is released while it waits), and when
it gets it, asks the runner to stop — and, should `process()` not return, ends the process.
"""

import fcntl
import os
import threading
from typing import Callable, Optional

ENV_OWNER_LOCK = "BERTH_OWNER_LOCK"

#: How long a clean stop may take after the host is gone before the process just exits.
HARD_EXIT_AFTER_S = 1.5


def _exit_now() -> None:
    os._exit(3)


def watch_owner(
    path: Optional[str],
    on_gone: Callable[[], None],
    log: Callable[[str], None],
    hard_exit: Callable[[], None] = _exit_now,
) -> Optional[threading.Thread]:
    """Starts the watcher thread; `None` when there is no owner file to watch."""
    if not path:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        log(f"cannot watch the host's owner file {path}: {exc}")
        return None

    def run() -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # returns once the host's exclusive lock is gone
        except OSError as exc:
            log(f"cannot wait on the host's owner file {path}: {exc}")
            return
        finally:
            os.close(fd)  # let go at once, so a sweeper can take the lock and clean up
        log("the host that started this node is gone; stopping")
        on_gone()
        threading.Event().wait(HARD_EXIT_AFTER_S)
        log("still running after the host left; exiting")
        hard_exit()

    thread = threading.Thread(target=run, name="berth-owner", daemon=True)
    thread.start()
    return thread
