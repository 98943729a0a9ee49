"""How many instructions the runner spends on one frame: a count, not a time, so it repeats on
a busy or drifting machine where wall-clock timings do not. The runner (a host process, the
built-in `Identity` node, blocking waits: no polling, whose length would depend on time) runs
under `valgrind --tool=callgrind` twice, once for FEW frames and once for MANY, beside the test
suite's simulated host; the difference divided by the extra frames is one frame's count, start
and stop cancelling out. Two runs here agreed within 5% (62,800 and 65,100 on 2026-12-07);
what still moves is likely what runs on a clock (the runner's stats messages). Needs valgrind
and a Python with iceoryx2 and numpy:

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
        host.start("Identity", spin_us=0, anticipate_us=0)
        host.wait_ready(timeout=300)
        payload = (np.arange(960, dtype=np.float32) / 960).tobytes()
        timeout = iox2.Duration.from_millis(1000)
        for _ in range(frames):
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
    parser.add_argument("--annotate", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        few_out, many_out = os.path.join(tmp, "few"), os.path.join(tmp, "many")
        few, many = run(args.few, few_out), run(args.many, many_out)
        extra = args.many - args.few
        print(f"runner instructions per frame: {(many - few) / extra:,.0f}")
        if args.annotate:
            a, b = per_function(few_out), per_function(many_out)
            grown = sorted(((b.get(k, 0) - a.get(k, 0)) / extra, k) for k in set(a) | set(b))
            for count, name in reversed(grown[-25:]):
                print(f"{count:9,.0f}  {name[:140]}")


if __name__ == "__main__":
    main()
