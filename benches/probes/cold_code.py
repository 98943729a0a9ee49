"""How much slower code runs when it last ran a while ago: 20 copies of 4 KiB, timed back to
back, after a sleep, after a busy loop, and after touching 8 MiB. On a VM the paced cases run
their whole path this cold (BENCHMARKS.md, "Waiting"). `python3 benches/probes/cold_code.py`.

`--awake` holds `/dev/cpu_dma_latency` at 0 (needs root) while it runs, so idle CPUs poll
instead of halting: if the slowdown after a sleep goes away, it is the CPU's idle state (on a
VM, the halted virtual CPU's wake-up), not the caches."""

import os
import statistics
import struct
import sys
import time

SOURCE = bytearray(4096)
TARGET = bytearray(4096)
OTHER = bytearray(8 << 20)
ROUNDS = 100


def work() -> int:
    started = time.perf_counter_ns()
    for _ in range(20):
        TARGET[:] = SOURCE
    return time.perf_counter_ns() - started


def busy(ns: int) -> None:
    end = time.perf_counter_ns() + ns
    while time.perf_counter_ns() < end:
        pass


def report(label: str, before) -> None:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(ROUNDS):
        before()
        times.append(work())
    print(f"{label}: median {statistics.median(times) / 1000:.1f} us")


if "--awake" in sys.argv:
    qos = os.open("/dev/cpu_dma_latency", os.O_WRONLY)  # held until the probe exits
    os.write(qos, struct.pack("i", 0))
    print("idle CPUs held awake (/dev/cpu_dma_latency = 0)")

report("back to back", lambda: None)
report("after a 1 ms sleep", lambda: time.sleep(0.001))
report("after a 20 ms sleep", lambda: time.sleep(0.02))
report("after 20 ms of busy looping (no idle CPU)", lambda: busy(20_000_000))
report(
    "after touching 8 MiB (caches evicted, no idle)",
    lambda: OTHER.__setitem__(slice(None), bytes(len(OTHER))),
)
