#!/usr/bin/env python3
"""Does `sched_yield` hand the CPU to a thread in another cgroup?

Two processes play ping-pong through a word in shared memory, back to back, each polling for
its turn and yielding (`os.sched_yield()`) at every look, as Berth's runner does while it polls
for a frame. Cases:

- `same`: both processes in the caller's CPU cgroup;
- `group`: the child moved into a CPU cgroup of its own (as a container's processes are, one
  cgroup per container under cgroup v1; needs root);
- `container`: the child in a Docker container (`--container IMAGE`), the word bind-mounted.

Each case runs with both processes pinned on CPU 0 (they must take turns on it, so a round trip
is as fast as a yield hands the CPU over) and unpinned (the OS places them).

    python3 benches/probes/yield_groups.py [--frames 20000] [--container berth/python:3.11]

Prints each case's round-trip p50 and p99 in µs.
"""

import argparse
import mmap
import os
import struct
import subprocess
import sys
import tempfile
import time

WORD = struct.Struct("=Q")


def child(path: str, frames: int, cpu: int) -> None:
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})
    with open(path, "r+b") as f:
        mem = mmap.mmap(f.fileno(), 8)
    read, write, yield_ = WORD.unpack_from, WORD.pack_into, os.sched_yield
    write(mem, 0, 1)  # ready
    for k in range(frames):
        ping = 2 * k + 2
        while read(mem, 0)[0] != ping:
            yield_()
        write(mem, 0, ping + 1)


def play(mem, frames: int):
    read, write, yield_ = WORD.unpack_from, WORD.pack_into, os.sched_yield
    clock = time.perf_counter_ns
    while read(mem, 0)[0] != 1:
        yield_()
    rts = []
    for k in range(frames):
        ping = 2 * k + 2
        started = clock()
        write(mem, 0, ping)
        while read(mem, 0)[0] != ping + 1:
            yield_()
        rts.append(clock() - started)
    return rts


def own_cgroup(pid: int) -> str:
    """Moves `pid` into a new CPU cgroup (cgroup v1); returns its folder."""
    root = "/sys/fs/cgroup/cpu"
    folder = os.path.join(root, f"berth_probe_{os.getpid()}")
    os.mkdir(folder)
    with open(os.path.join(folder, "tasks"), "w") as f:
        f.write(str(pid))
    return folder


def case(mode: str, pinned: bool, frames: int, image: str | None):
    cpu = 0 if pinned else -1
    with tempfile.NamedTemporaryFile(dir="/dev/shm", prefix="berth_probe_") as f:
        f.write(b"\0" * 8)
        f.flush()
        os.chmod(f.name, 0o666)
        mem = mmap.mmap(f.fileno(), 8)
        if mode == "container":
            argv = [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                f"{f.name}:/word",
                "-v",
                f"{os.path.abspath(__file__)}:/probe.py:ro",
                "--entrypoint",
                "python3",
                image,
                "/probe.py",
                "--child",
                "/word",
                str(frames),
                str(cpu),
            ]
        else:
            argv = [sys.executable, __file__, "--child", f.name, str(frames), str(cpu)]
        proc = subprocess.Popen(argv)
        folder = None
        if mode == "group":
            folder = own_cgroup(proc.pid)
        if pinned:
            os.sched_setaffinity(0, {0})
        try:
            rts = play(mem, frames)
        finally:
            os.sched_setaffinity(0, set(range(os.cpu_count())))
            proc.wait()
            if folder:
                os.rmdir(folder)
    rts = sorted(rts[frames // 10 :])

    def us(q: float) -> float:
        return rts[int(q * (len(rts) - 1))] / 1e3

    return us(0.5), us(0.99)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=20000)
    parser.add_argument("--container", metavar="IMAGE")
    args = parser.parse_args()
    modes = ["same", "group"] + (["container"] if args.container else [])
    print(f"{'case':<22} {'p50 µs':>8} {'p99 µs':>9}")
    for pinned in (True, False):
        for mode in modes:
            p50, p99 = case(mode, pinned, args.frames, args.container)
            name = f"{mode}, {'pinned CPU 0' if pinned else 'unpinned'}"
            print(f"{name:<22} {p50:>8.1f} {p99:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
