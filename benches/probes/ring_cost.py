"""What one ring costs the ringer, paced, from a host process and from a container: the
system calls a writer makes to wake a sleeping reader, timed where they are made.

    python benches/probes/ring_cost.py [--frames N] [--image berth/python:3.11]

Every 20 ms the ringer (a host process, then a container of IMAGE with Docker's default
seccomp profile, then one with `seccomp=unconfined`) rings a reader on the host, which records
when it woke. Rings:

- `fifo+stat`: a `stat` of the bells folder, then a byte into the reader's FIFO (how Berth's
  first doorbell looked for readers that came or went);
- `fifo`: the byte alone (Berth's doorbell: readers are found through a counter in shared
  memory, read without a system call);
- `dgram`: a datagram to a Unix socket bound by path (what iceoryx2's event does).

It prints, per ringer and ring, the ring's own cost (p50) and ring → reader awake (p50, p90).
"""

import argparse
import os
import select
import socket
import statistics
import subprocess
import sys
import time

DIR = "/dev/shm/berth_probe_ring"
RINGS = ("fifo+stat", "fifo", "dgram")


def ringer(ring: str, frames: int) -> None:
    """Rings every 20 ms with the ring's timestamp as payload; prints the ring costs (ns)."""
    time.sleep(0.3)
    fd = os.open(f"{DIR}/bell", os.O_RDWR | os.O_NONBLOCK) if ring != "dgram" else -1
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    costs = []
    for _ in range(frames):
        time.sleep(0.02)
        t0 = time.monotonic_ns()
        stamp = t0.to_bytes(8, "little")
        if ring == "fifo+stat":
            os.stat(DIR)
            os.write(fd, stamp)
        elif ring == "fifo":
            os.write(fd, stamp)
        else:
            sock.sendto(stamp, f"{DIR}/sock")
        costs.append(time.monotonic_ns() - t0)
    print(" ".join(map(str, costs)))


def reader(ring: str, frames: int, command: list) -> tuple:
    """Starts the ringer with `command`; returns (ring costs, ring → awake) in ns."""
    for name in ("bell", "sock"):
        try:
            os.unlink(f"{DIR}/{name}")
        except FileNotFoundError:
            pass
    if ring == "dgram":
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(f"{DIR}/sock")
        os.chmod(f"{DIR}/sock", 0o666)

        def read() -> bytes:
            return sock.recv(64)
    else:
        os.mkfifo(f"{DIR}/bell", 0o666)
        fd = os.open(f"{DIR}/bell", os.O_RDWR | os.O_NONBLOCK)

        def read() -> bytes:
            select.select((fd,), (), (), 5)
            return os.read(fd, 4096)

    proc = subprocess.Popen(command + ["--ringer", ring], stdout=subprocess.PIPE, text=True)
    woke = []
    for _ in range(frames):
        payload = read()
        woke.append(time.monotonic_ns() - int.from_bytes(payload[:8], "little"))
    out, _ = proc.communicate()
    return [int(x) for x in out.split()], woke


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--image", default="berth/python:3.11")
    parser.add_argument("--ringer", choices=RINGS)
    args = parser.parse_args()
    if args.ringer:
        ringer(args.ringer, args.frames)
        return 0
    os.makedirs(DIR, exist_ok=True)
    os.chmod(DIR, 0o777)
    script = os.path.abspath(__file__)
    docker = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "-u",
        f"{os.getuid()}:{os.getgid()}",
        "-v",
        "/dev/shm:/dev/shm",
        "-v",
        f"{script}:/probe.py:ro",
        "--entrypoint",
        "python3",
    ]
    ringers = {
        "host process": [sys.executable, script],
        "container": docker + [args.image, "/probe.py"],
        "container, seccomp=unconfined": docker[:3]
        + ["--security-opt", "seccomp=unconfined"]
        + docker[3:]
        + [args.image, "/probe.py"],
    }
    frames = ["--frames", str(args.frames)]
    print(f"{'ringer':32} {'ring':10} {'ring cost p50':>14} {'awake p50':>10} {'awake p90':>10}")
    try:
        for who, command in ringers.items():
            for ring in RINGS:
                costs, woke = reader(ring, args.frames, command + frames)
                woke.sort()
                print(
                    f"{who:32} {ring:10} {statistics.median(costs) / 1000:11.1f} us "
                    f"{statistics.median(woke) / 1000:7.1f} us "
                    f"{woke[len(woke) * 9 // 10] / 1000:7.1f} us",
                    flush=True,
                )
    finally:
        for name in ("bell", "sock"):
            try:
                os.unlink(f"{DIR}/{name}")
            except FileNotFoundError:
                pass
        os.rmdir(DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
