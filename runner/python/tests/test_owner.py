"""The owner watcher stops the runner when the host's lock comes free."""

import fcntl
import os
import threading
from typing import List

from berth.owner import watch_owner


def test_no_owner_file_means_no_watcher() -> None:
    assert watch_owner(None, lambda: None, print) is None
    assert watch_owner("", lambda: None, print) is None


def test_an_unreadable_owner_file_is_logged_not_fatal(tmp_path) -> None:  # type: ignore[no-untyped-def]
    logged: List[str] = []
    assert watch_owner(str(tmp_path / "missing"), lambda: None, logged.append) is None
    assert "cannot watch" in logged[0]


def test_the_runner_is_stopped_once_the_host_lets_go(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "session.owner"
    path.write_text("")
    host = os.open(str(path), os.O_RDWR)
    fcntl.flock(host, fcntl.LOCK_EX)  # the host, alive
    gone = threading.Event()
    exited = threading.Event()
    logged: List[str] = []
    thread = watch_owner(str(path), gone.set, logged.append, hard_exit=exited.set)
    assert thread is not None
    assert not gone.wait(0.3), "stopped while the host still holds its lock"
    os.close(host)  # the host dies: the kernel frees its lock
    assert gone.wait(10), "not stopped after the host let go"
    assert exited.wait(10), "no hard exit after the grace period"
    assert any("gone" in line for line in logged), logged
    # The watcher let go of the file: the lock can be taken exclusively (as a sweeper does).
    probe = os.open(str(path), os.O_RDONLY)
    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.close(probe)
