import gc
import os
import sys
from typing import Any, Callable, Iterator, List

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the `berth` package
sys.path.insert(0, HERE)  # hostsim

from hostsim import Host, leftovers, sweep_session  # noqa: E402


@pytest.fixture
def make_host(tmp_path: Any, caplog: Any) -> Iterator[Callable[..., Host]]:
    """Creates hosts (one session each); afterwards stops their runners, deletes every port
    and node, and asserts nothing with the session's prefix is left in /dev/shm or under the
    iceoryx2 root, and that iceoryx2 reported no lost sample on the host side."""
    hosts: List[Host] = []

    def make(*args: Any, **kw: Any) -> Host:
        kw.setdefault("log_dir", str(tmp_path))
        host = Host(*args, **kw)
        hosts.append(host)
        return host

    yield make
    for host in hosts:
        host.close()
    gc.collect()
    for host in hosts:
        leaks = sweep_session(host.prefix)
        assert leaks == [], f"session {host.session} left {leaks}"
        assert leftovers(host.prefix) == []
    lost = [r.getMessage() for r in caplog.records if "Lost chunk" in r.getMessage()]
    assert lost == []


@pytest.fixture(params=["event", "fifo"])
def host(make_host: Callable[..., Host], request: Any) -> Host:
    """A host of either way of waking readers: iceoryx2's event service, or doorbells."""
    return make_host(doorbell=request.param)
