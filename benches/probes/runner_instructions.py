"""How many instructions the runner spends on one frame: a count, not a time, so it repeats on
a busy or drifting machine where wall-clock timings do not. The runner (a host process, the
built-in `Identity` node, blocking waits: no polling, whose length would depend on time) runs
under `valgrind --tool=callgrind` for FEW frames and for MANY, beside the test suite's simulated
host; the difference divided by the extra frames is one frame's count, start and stop cancelling
out. Every frame takes the same path: the host sends the next frame only once the runner sleeps
in its wait, and the runner's stats messages, sent on a clock, are off. Each count runs
`--repeat` times and the median run is taken. Runs here agree within a few hundred instructions
a frame. Needs valgrind and a Python with iceoryx2 and numpy:

    target/berth-venv/bin/python benches/probes/runner_instructions.py [--few 200] [--many 1200]

Add `--annotate` to print the functions that grew most per frame."""

import argparse
import os
import re
import subprocess
import sys
import tempfile

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "runner", "python")
sys.path.insert(0, os.path.join(RUNNER, "tests"))
sys.path.insert(0, RUNNER)

import iceoryx2 as iox2  # noqa: E402
import numpy as np  # noqa: E402
from hostsim import Host, sweep_session  # noqa: E402

from berth.frame import KIND_AUDIO  # noqa: E402


def asleep(pid: int) -> None:
    """Returns once the runner's main thread sleeps (in its wait for the next frame), so every
    frame takes the same path: a frame sent while the runner is still finishing the last one
    would be found without a wait, and its count would depend on that race."""
    while True:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rpartition(")")[2].split()[0] == "S":
                return


def run(frames: int, out: str) -> int:
    """Runs `frames` frames through a runner under callgrind; returns its instruction total."""
    wrapper = out + ".sh"
    with open(wrapper, "w") as f:
        f.write(
            # One BLAS thread, as Berth starts runners: a spinning one would add instructions
            # in proportion to the (valgrind-slowed) time, not to the frames.
            f"#!/bin/sh\nexport OPENBLAS_NUM_THREADS=1\nexec valgrind --tool=callgrind "
            f"--callgrind-out-file={out} -q "
            f'{sys.executable} "$@"\n'
        )
    os.chmod(wrapper, 0o755)
    python, sys.executable = sys.executable, wrapper  # the simulated host starts sys.executable
    host = Host("instr")
    try:
        # No stats message on a clock: under valgrind the clock runs fast against the frames.
        host.start("Identity", spin_us=0, anticipate_us=0, stats_interval_ms=3_600_000)
        host.wait_ready(timeout=300)
        payload = (np.arange(960, dtype=np.float32) / 960).tobytes()
        timeout = iox2.Duration.from_millis(1000)
        assert host.proc is not None
        for _ in range(frames):
            asleep(host.proc.pid)
            host.input.send(KIND_AUDIO, payload, sample_rate=48000, channels=1)
            sample = host.output.subscriber.receive()
            while sample is None:
                host.output.listener.timed_wait(timeout)
                sample = host.output.subscriber.receive()
            sample.delete()
        host.send_eos()
        host.wait_control("stopped")
        host.wait_exit(timeout=300)
    finally:
        sys.executable = python
        host.close()
        sweep_session(host.prefix)
    with open(out) as f:
        totals = re.search(r"^totals: (\d+)", f.read(), re.M)
    if totals is None:
        raise SystemExit(f"no instruction total in {out}")
    return int(totals.group(1))


def per_function(out: str) -> dict[str, int]:
    """Instructions per function, from `callgrind_annotate`."""
    text = subprocess.run(
        ["callgrind_annotate", "--threshold=100", out], capture_output=True, text=True
    ).stdout
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--few", type=int, default=200)
    parser.add_argument("--many", type=int, default=1200)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--annotate", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for frames in (args.few, args.many):
            totals = sorted(
                (run(frames, os.path.join(tmp, f"{frames}.{k}")), k) for k in range(args.repeat)
            )
            print(f"{frames} frames: {', '.join(f'{t:,}' for t, _ in totals)} instructions")
            runs[frames] = totals[len(totals) // 2]  # the median run
        (few, a), (many, b) = runs[args.few], runs[args.many]
        extra = args.many - args.few
        print(f"runner instructions per frame: {(many - few) / extra:,.0f}")
        if args.annotate:
            a_counts = per_function(os.path.join(tmp, f"{args.few}.{a}"))
            b_counts = per_function(os.path.join(tmp, f"{args.many}.{b}"))
            grown = sorted(
                ((b_counts.get(k, 0) - a_counts.get(k, 0)) / extra, k)
                for k in set(a_counts) | set(b_counts)
            )
            for count, name in reversed(grown[-25:]):
                print(f"{count:9,.0f}  {name[:140]}")


if __name__ == "__main__":
    main()
