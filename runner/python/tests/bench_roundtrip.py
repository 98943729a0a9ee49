"""Round-trip latency host -> runner (Identity) -> host over iceoryx2, 960-sample frames.

Not a test; run it directly:

    python3 tests/bench_roundtrip.py [--frames 2000] [--spin-us 50 0] [--gap-us 0 1000]
                                     [--host-wait spin|event] [--driver inline loop] [--pin CPU]

Each frame is sent only after the previous output arrived (ping-pong). The host measures from
just before `send()` to the moment it has the output sample, so the numbers include the host's
own wake-up (`--host-wait event`) or its busy polling (`--host-wait spin`). `--gap-us` sleeps
between frames: with a gap longer than the runner's spin, every frame wakes a blocked runner,
as paced real-time audio (one frame per 20 ms) does. With `--pin`, use `--host-wait event`
(a spinning host on the runner's only CPU starves it).
"""

import argparse
import os
import sys
import time
from typing import List

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import iceoryx2 as iox2  # noqa: E402
from hostsim import Host, sweep_session  # noqa: E402

from berth.frame import KIND_AUDIO  # noqa: E402

FRAME = 960


def run_case(
    frames: int,
    warmup: int,
    spin_us: int,
    gap_us: int,
    host_wait: str,
    driver: str,
    pin: List[int],
) -> np.ndarray:
    host = Host("bench")
    try:
        if pin:
            os.sched_setaffinity(0, set(pin))
        host.start("Identity", spin_us=spin_us, coroutine_driver=driver, cpus=pin or None)
        host.wait_ready()
        payload = (np.arange(FRAME, dtype=np.float32) / FRAME).tobytes()
        receive = host.output.subscriber.receive
        wait = host.output.listener.timed_wait
        timeout = iox2.Duration.from_millis(1000)
        send = host.input.send
        rtts = np.empty(frames, dtype=np.int64)
        for i in range(warmup + frames):
            if gap_us:
                time.sleep(gap_us / 1e6)
            t0 = time.perf_counter_ns()
            send(KIND_AUDIO, payload, sample_rate=48000, channels=1)
            sample = receive()
            while sample is None:
                if host_wait == "event":
                    wait(timeout)
                sample = receive()
            t1 = time.perf_counter_ns()
            sample.delete()
            if i >= warmup:
                rtts[i - warmup] = t1 - t0
        host.send_eos()
        host.wait_control("stopped")
        host.wait_exit()
        return rtts
    finally:
        host.close()
        sweep_session(host.prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--spin-us", type=int, nargs="+", default=[50, 0])
    parser.add_argument("--gap-us", type=int, nargs="+", default=[0, 1000])
    parser.add_argument("--host-wait", choices=["spin", "event"], nargs="+", default=["spin"])
    parser.add_argument("--driver", choices=["inline", "loop"], nargs="+", default=["inline"])
    parser.add_argument("--pin", type=int, nargs="*", default=[], help="CPUs for both ends")
    args = parser.parse_args()
    print(
        f"python {sys.version.split()[0]}, {args.frames} frames of {FRAME} float32 samples"
        f" ({FRAME * 4} B), pinned to {args.pin or 'no CPU'}, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )
    print(
        f"{'spin_us':>7} {'gap_us':>6} {'host':>5} {'driver':>6} "
        f"{'p50 us':>8} {'p90 us':>8} {'p99 us':>8} {'max us':>8}"
    )
    for driver in args.driver:
        for host_wait in args.host_wait:
            for gap_us in args.gap_us:
                for spin_us in args.spin_us:
                    rtts = (
                        run_case(
                            args.frames, args.warmup, spin_us, gap_us, host_wait, driver, args.pin
                        )
                        / 1000.0
                    )
                    p50, p90, p99 = np.percentile(rtts, [50, 90, 99])
                    print(
                        f"{spin_us:>7} {gap_us:>6} {host_wait:>5} {driver:>6} "
                        f"{p50:>8.1f} {p90:>8.1f} {p99:>8.1f} {rtts.max():>8.1f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
