"""What one wake-up costs, doorbell against doorbell: a paced ping-pong between two Python
processes that carry no data, only the signal, so the difference between the rows is the
doorbell alone. Every 20 ms the parent rings, the child wakes and rings back, and the parent
times the round trip (two wake-ups). Both sides block between frames (no polling).

    python benches/probes/doorbell.py [--frames N] [--period-ms P] [--container IMAGE]

- `unix_stream`: a byte over a Unix stream socket pair (the socket baseline's wake-up).
- `unix_dgram`: a byte over a Unix datagram socket pair (what iceoryx2's event sends).
- `iceoryx2_event`: iceoryx2 event services (notifier -> listener), as Berth's ports wake.
- `eventfd`: a pair of eventfds (`os.eventfd_read`/`os.eventfd_write`, no ctypes); across
  containers the descriptors would have to be passed over a Unix socket.
- `fifo`: a byte through a named pipe per direction, made in `/dev/shm` and opened by path
  (`O_RDWR`, so neither side's open waits for the other): like a futex it needs no
  descriptor passed, so it works across containers that mount the same `/dev/shm`.
- `futex`: a 32-bit counter per direction in a `/dev/shm` file, waited on with FUTEX_WAIT and
  rung with FUTEX_WAKE through `ctypes` (the GIL is released while it waits). A futex on a
  shared file mapping is keyed by the file, so it works across containers that mount the same
  `/dev/shm`.

`--container IMAGE` runs the child in a container of IMAGE (`--ipc=host`, `/dev/shm` mounted)
for the doorbells that need no descriptor passed: `unix_stream` (a socket bound in
`/dev/shm`), `fifo` and `futex`.

It prints p50/p99 of the round trip and the child's CPU time per frame. Needs a Python with
iceoryx2 (`target/berth-venv/bin/python`, made by `cargo xtask test`) for the iceoryx2 row.
"""

import argparse
import ctypes
import glob
import mmap
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

SYS_FUTEX = {"x86_64": 202, "aarch64": 98}.get(platform.machine(), 202)
FUTEX_WAIT, FUTEX_WAKE = 0, 1
STOP = 0xFFFFFFFF
_libc = ctypes.CDLL(None, use_errno=True)  # CDLL: the GIL is released during each call
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = [
    ctypes.c_long,
    ctypes.c_void_p,
    ctypes.c_int,
    ctypes.c_uint32,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_uint32,
]


class Bell:
    """Two u32 counters (ping, pong) in a shared file mapping."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_RDWR)
        self.map = mmap.mmap(fd, 8)
        os.close(fd)
        words = (ctypes.c_uint32 * 2).from_buffer(self.map)
        self.words = words
        self.addr = [ctypes.addressof(words), ctypes.addressof(words) + 4]

    def ring(self, which: int, value: int) -> None:
        self.words[which] = value
        _syscall(SYS_FUTEX, self.addr[which], FUTEX_WAKE, 1, None, None, 0)

    def wait_change(self, which: int, seen: int) -> int:
        """Blocks until counter `which` is no longer `seen`; returns its value."""
        while True:
            value = self.words[which]
            if value != seen:
                return value
            _syscall(SYS_FUTEX, self.addr[which], FUTEX_WAIT, seen, None, None, 0)


def _child_cpu_ns() -> int:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return int((usage.ru_utime + usage.ru_stime) * 1e9)


# -- children: wait for the ping, ring back, until told to stop; print the CPU they used ----


def echo_socket(where: str, kind: int) -> None:
    if where.isdigit():  # a descriptor inherited from the parent
        sock = socket.socket(socket.AF_UNIX, kind, fileno=int(where))
    else:  # a path in a directory the parent shares (across a container's boundary)
        sock = socket.socket(socket.AF_UNIX, kind)
        sock.connect(where)
    print("READY", flush=True)
    base = _child_cpu_ns()
    while True:
        data = sock.recv(16)
        if not data or data == b"S":
            break
        sock.send(data)
    print(_child_cpu_ns() - base, flush=True)


def echo_eventfd(ping: int, pong: int) -> None:
    base = _child_cpu_ns()
    while True:
        if os.eventfd_read(ping) >= STOP:
            break
        os.eventfd_write(pong, 1)
    print(_child_cpu_ns() - base, flush=True)


def echo_futex(path: str) -> None:
    bell = Bell(path)
    seen = 0
    print("READY", flush=True)
    base = _child_cpu_ns()
    while True:
        seen = bell.wait_change(0, seen)
        if seen == STOP:
            break
        bell.ring(1, seen)
    print(_child_cpu_ns() - base, flush=True)


def echo_fifo(ping_path: str, pong_path: str) -> None:
    ping, pong = os.open(ping_path, os.O_RDWR), os.open(pong_path, os.O_RDWR)
    print("READY", flush=True)
    base = _child_cpu_ns()
    while os.read(ping, 1) != b"S":
        os.write(pong, b"x")
    print(_child_cpu_ns() - base, flush=True)
    os.close(ping)
    os.close(pong)


def _iox2_node(prefix: str) -> Any:
    import iceoryx2 as iox2

    config = iox2.config.default()
    config.global_cfg.prefix = iox2.FileName.new(prefix)
    return iox2, (
        iox2.NodeBuilder.new()
        .config(config)
        .signal_handling_mode(iox2.SignalHandlingMode.Disabled)
        .create(iox2.ServiceType.Ipc)
    )


def echo_iceoryx2(prefix: str) -> None:
    iox2, node = _iox2_node(prefix)
    ping = node.service_builder(iox2.ServiceName.new("ping")).event().open()
    pong = node.service_builder(iox2.ServiceName.new("pong")).event().open()
    listener = ping.listener_builder().create()
    notifier = pong.notifier_builder().create()
    print("READY", flush=True)
    stop = iox2.EventId.new(2)
    base = _child_cpu_ns()
    while True:
        events = listener.blocking_wait()
        if any(event.id.as_value == stop.as_value for event in events):
            break
        if events:
            notifier.notify()
    listener.delete()
    notifier.delete()
    print(_child_cpu_ns() - base, flush=True)


# -- the parent: pace, ring, time the reply ----------------------------------------------------


def paced(
    frames: int, period_ns: int, ring: Callable[[int], object], wait: Callable[[int], object]
) -> list[int]:
    times: list[int] = []
    due = time.monotonic_ns() + period_ns
    for i in range(1, frames + 1):
        left = due - time.monotonic_ns()
        if left > 0:
            time.sleep(left / 1e9)
        due += period_ns
        started = time.perf_counter_ns()
        ring(i)
        wait(i)
        times.append(time.perf_counter_ns() - started)
    return times


def _child_cmd(args: argparse.Namespace, *rest: str) -> list[str]:
    """The child's command line: this script, in `args.container` when one is named."""
    script = os.path.abspath(__file__)
    if args.container:
        shm = "/dev/shm"
        cmd = [
            "docker",
            "run",
            "--rm",
            "-i",
            "--ipc=host",
            "-v",
            f"{shm}:{shm}",
            "-v",
            f"{script}:/probe.py:ro",
            "--entrypoint",
            "python",
            args.container,
            "/probe.py",
            *rest,
        ]
        return cmd
    return [sys.executable, script, *rest]


def run_socket(args: argparse.Namespace, kind: int) -> tuple[list[int], int]:
    if args.container:  # a stream socket bound in the shared /dev/shm
        path = f"/dev/shm/berth_probe_socket_{os.getpid()}"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        os.chmod(path, 0o666)
        server.listen(1)
        cmd = _child_cmd(args, "--echo-socket", path, str(int(kind)))
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        parent, _ = server.accept()
        server.close()
        os.unlink(path)
    else:
        parent, child = socket.socketpair(socket.AF_UNIX, kind)
        proc = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--echo-socket",
                str(child.fileno()),
                str(int(kind)),
            ],
            pass_fds=(child.fileno(),),
            stdout=subprocess.PIPE,
            text=True,
        )
        child.close()
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"

    def wait(_: int) -> None:
        parent.recv(16)

    times = paced(args.frames, args.period_ns, lambda i: parent.send(b"x"), wait)
    parent.send(b"S")
    cpu = int(proc.stdout.read().strip() or 0)  # type: ignore[union-attr]
    proc.wait()
    return times, cpu


def run_eventfd(args: argparse.Namespace) -> tuple[list[int], int]:
    ping, pong = os.eventfd(0), os.eventfd(0)
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--echo-eventfd", str(ping), str(pong)],
        pass_fds=(ping, pong),
        stdout=subprocess.PIPE,
        text=True,
    )
    times = paced(
        args.frames,
        args.period_ns,
        lambda i: os.eventfd_write(ping, 1),
        lambda i: os.eventfd_read(pong),
    )
    os.eventfd_write(ping, STOP)
    cpu = int(proc.stdout.read().strip() or 0)  # type: ignore[union-attr]
    proc.wait()
    os.close(ping)
    os.close(pong)
    return times, cpu


def run_futex(args: argparse.Namespace) -> tuple[list[int], int]:
    path = f"/dev/shm/berth_probe_doorbell_{os.getpid()}"
    with open(path, "wb") as f:
        f.write(bytes(8))
    os.chmod(path, 0o666)
    try:
        bell = Bell(path)
        cmd = _child_cmd(args, "--echo-futex", path)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        times = paced(
            args.frames,
            args.period_ns,
            lambda i: bell.ring(0, i),
            lambda i: bell.wait_change(1, i - 1),
        )
        bell.ring(0, STOP)
        cpu = int(proc.stdout.read().strip() or 0)  # type: ignore[union-attr]
        proc.wait()
        return times, cpu
    finally:
        os.unlink(path)


def run_fifo(args: argparse.Namespace) -> tuple[list[int], int]:
    paths = [f"/dev/shm/berth_probe_fifo_{os.getpid()}_{end}" for end in ("ping", "pong")]
    for path in paths:
        os.mkfifo(path, 0o666)
        os.chmod(path, 0o666)
    try:
        ping, pong = (os.open(path, os.O_RDWR) for path in paths)
        proc = subprocess.Popen(
            _child_cmd(args, "--echo-fifo", *paths), stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        times = paced(
            args.frames, args.period_ns, lambda i: os.write(ping, b"x"), lambda i: os.read(pong, 1)
        )
        os.write(ping, b"S")
        cpu = int(proc.stdout.read().strip() or 0)
        proc.wait()
        os.close(ping)
        os.close(pong)
        return times, cpu
    finally:
        for path in paths:
            os.unlink(path)


def run_iceoryx2(args: argparse.Namespace) -> tuple[list[int], int]:
    prefix = f"berth_probe_{os.getpid()}_"
    iox2, node = _iox2_node(prefix)
    ping = node.service_builder(iox2.ServiceName.new("ping")).event().create()
    pong = node.service_builder(iox2.ServiceName.new("pong")).event().create()
    notifier = ping.notifier_builder().create()
    listener = pong.listener_builder().create()
    cmd = _child_cmd(args, "--echo-iceoryx2", prefix)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY"

    def wait(_: int) -> None:
        while not listener.blocking_wait():
            pass

    times = paced(args.frames, args.period_ns, lambda i: notifier.notify(), wait)
    notifier.notify_with_custom_event_id(iox2.EventId.new(2))
    cpu = int(proc.stdout.read().strip() or 0)
    proc.wait()
    notifier.delete()
    listener.delete()
    del ping, pong, node
    leftovers = glob.glob(f"/dev/shm/{prefix}*")
    leftovers += glob.glob(f"/tmp/iceoryx2/**/{prefix}*", recursive=True)
    for leftover in leftovers:
        os.unlink(leftover)
    return times, cpu


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1].startswith("--echo-"):
        role, rest = sys.argv[1], sys.argv[2:]
        if role == "--echo-socket":
            echo_socket(rest[0], int(rest[1]))
        elif role == "--echo-eventfd":
            echo_eventfd(int(rest[0]), int(rest[1]))
        elif role == "--echo-futex":
            echo_futex(rest[0])
        elif role == "--echo-fifo":
            echo_fifo(rest[0], rest[1])
        else:
            echo_iceoryx2(rest[0])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--period-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2, help="each case this often, interleaved")
    parser.add_argument("--container", help="run the child in this image")
    args = parser.parse_args()
    args.period_ns = int(args.period_ms * 1e6)
    cases: dict[str, Callable[[], tuple[list[int], int]]] = {
        "unix_stream": lambda: run_socket(args, socket.SOCK_STREAM),
        "unix_dgram": lambda: run_socket(args, socket.SOCK_DGRAM),
        "eventfd": lambda: run_eventfd(args),
        "fifo": lambda: run_fifo(args),
        "futex": lambda: run_futex(args),
    }
    if args.container:
        # The doorbells that need no descriptor passed: a socket, a FIFO and a futex by path.
        cases = {name: cases[name] for name in ("unix_stream", "fifo", "futex")}
    else:
        try:
            import iceoryx2  # noqa: F401

            cases["iceoryx2_event"] = lambda: run_iceoryx2(args)
        except ImportError:
            print("(no iceoryx2 in this Python: its row is left out)")
    results: dict[str, list[int]] = {name: [] for name in cases}
    cpu: dict[str, int] = {name: 0 for name in cases}
    for _ in range(args.rounds):
        for name, case in cases.items():
            times, used = case()
            results[name] += times
            cpu[name] += used
    where = f"child in {args.container}" if args.container else "child a host process"
    print(f"{args.frames * args.rounds} frames a case, one every {args.period_ms} ms, {where}")
    print(f"{'doorbell':<16} {'p50 us':>8} {'p99 us':>8} {'child CPU us/frame':>19}")
    for name, times in results.items():
        times.sort()
        p50 = statistics.median(times) / 1000
        p99 = times[min(len(times) - 1, len(times) * 99 // 100)] / 1000
        per_frame = cpu[name] / len(times) / 1000
        print(f"{name:<16} {p50:>8.1f} {p99:>8.1f} {per_frame:>19.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
