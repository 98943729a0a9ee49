#!/usr/bin/env python3
"""Who had the CPUs during a slow chain frame: a scheduler trace beside `paced_traced`.

`record` traces the kernel's scheduler (context switches and wake-ups on every CPU, through
tracefs, on the clock the frames' timestamps use) while a command runs; `report` reads that
trace beside `target/pipeline.json` (`cargo bench -p berth-benches --bench pipeline --
paced_traced`) and shows, for each of the slowest frames, its slowest hop: what the node
that was to take the frame was doing over that hop (on a CPU, runnable and waiting for one,
or asleep) and what ran on each CPU meanwhile. Needs root (tracefs).

    python3 benches/probes/sched_trace.py record -- \\
        cargo bench -p berth-benches --bench pipeline -- paced_traced
    python3 benches/probes/sched_trace.py report [--frames 10]

`record` writes `target/sched_trace.txt`; build the bench first, or the trace holds the build.
"""

import argparse
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from typing import Dict, List, Tuple

TRACEFS = "/sys/kernel/tracing"
INSTANCE = os.path.join(TRACEFS, "instances", "berth-sched")
EVENTS = [
    "sched/sched_switch",
    "sched/sched_waking",
    "sched/sched_wakeup",
    "sched/sched_wakeup_new",
]
TARGET = os.path.join(os.path.dirname(__file__), "..", "..", "target")

LINE = re.compile(
    r"^\s*(?P<task>.+?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?:\S+\s+)?"
    r"(?P<ts>\d+\.\d+): (?P<event>\w+): (?P<rest>.*)$"
)
SWITCH = re.compile(
    r"prev_comm=(?P<prev_comm>.*?) prev_pid=(?P<prev_pid>\d+) .*?prev_state=(?P<state>\S+)"
    r" ==> next_comm=(?P<next_comm>.*?) next_pid=(?P<next_pid>\d+) "
)
WAKEUP = re.compile(r"comm=(?P<comm>.*?) pid=(?P<pid>\d+) .*?target_cpu=(?P<cpu>\d+)")


def write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def record(command: List[str], out: str, buffer_kb: int) -> int:
    if not os.path.isdir(TRACEFS) or not os.listdir(TRACEFS):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)
    if os.path.isdir(INSTANCE):
        os.rmdir(INSTANCE)
    os.mkdir(INSTANCE)
    try:
        write(os.path.join(INSTANCE, "trace_clock"), "mono")
        write(os.path.join(INSTANCE, "buffer_size_kb"), str(buffer_kb))
        for event in EVENTS:
            write(os.path.join(INSTANCE, "events", event, "enable"), "1")
        write(os.path.join(INSTANCE, "tracing_on"), "1")
        try:
            code = subprocess.run(command).returncode
        finally:
            write(os.path.join(INSTANCE, "tracing_on"), "0")
        with open(os.path.join(INSTANCE, "trace")) as src, open(out, "w") as dst:
            shutil.copyfileobj(src, dst)
        lost = open(os.path.join(INSTANCE, "per_cpu", "cpu0", "stats")).read()
        overrun = re.search(r"overrun: (\d+)", lost)
        if overrun and int(overrun.group(1)):
            print(f"warning: {overrun.group(1)} events lost on cpu0; raise --buffer-kb")
    finally:
        os.rmdir(INSTANCE)
    print(f"trace: {out}")
    return code


class Trace:
    """Each CPU's timeline (who ran from when) and each task's wake-ups, from a trace's
    `sched_switch` and `sched_wakeup` lines; times in ns, `CLOCK_MONOTONIC`."""

    def __init__(self, path: str) -> None:
        self.switches: Dict[int, List[Tuple[int, int, str, str]]] = defaultdict(list)
        self.wakeups: Dict[int, List[int]] = defaultdict(list)
        self.outs: Dict[int, List[Tuple[int, str]]] = defaultdict(list)
        self.ins: Dict[int, List[int]] = defaultdict(list)
        self.comms: Dict[int, str] = {}
        # Wake-ups asked for on one CPU for a task to run on another, each the ns from the
        # ask (`sched_waking`, on the waker's CPU) to the task made runnable (`sched_wakeup`,
        # which a remote wake-up's target CPU records once it takes the interrupt).
        self.asked: Dict[int, Tuple[int, int]] = {}
        self.remote_delays: List[int] = []
        with open(path) as f:
            for line in f:
                m = LINE.match(line)
                if not m:
                    continue
                ts = int(m["ts"].replace(".", "")) * 1000  # µs → ns
                if m["event"] == "sched_switch":
                    s = SWITCH.search(m["rest"])
                    if not s:
                        continue
                    cpu, nxt, prev = int(m["cpu"]), int(s["next_pid"]), int(s["prev_pid"])
                    self.switches[cpu].append((ts, nxt, s["next_comm"], s["state"]))
                    self.comms[nxt] = s["next_comm"]
                    self.outs[prev].append((ts, s["state"]))
                    self.ins[nxt].append(ts)
                elif m["event"] == "sched_waking":
                    w = WAKEUP.search(m["rest"])
                    if w:
                        self.asked[int(w["pid"])] = (ts, int(m["cpu"]))
                elif m["event"].startswith("sched_wakeup"):
                    w = WAKEUP.search(m["rest"])
                    if w:
                        pid = int(w["pid"])
                        self.wakeups[pid].append(ts)
                        asked = self.asked.pop(pid, None)
                        if asked and asked[1] != int(m["cpu"]):
                            self.remote_delays.append(ts - asked[0])
        self.starts = {cpu: [s[0] for s in sw] for cpu, sw in self.switches.items()}

    def on_cpu(self, cpu: int, a: int, b: int) -> Dict[int, int]:
        """ns each task (0: idle) ran on `cpu` within [a, b]."""
        sw, starts = self.switches[cpu], self.starts[cpu]
        i = max(0, bisect.bisect_right(starts, a) - 1)
        ran: Dict[int, int] = defaultdict(int)
        while i < len(sw) and sw[i][0] < b:
            end = sw[i + 1][0] if i + 1 < len(sw) else b
            lo, hi = max(a, sw[i][0]), min(b, end)
            if hi > lo:
                ran[sw[i][1]] += hi - lo
            i += 1
        return ran

    def state(self, pid: int, a: int, b: int) -> Tuple[int, int, int]:
        """ns `pid` spent on a CPU, runnable off one, and asleep within [a, b]."""
        events = sorted(
            [(t, "in") for t in self.ins[pid]]
            + [(t, "out_" + ("R" if st.startswith("R") else "S")) for t, st in self.outs[pid]]
            + [(t, "wake") for t in self.wakeups[pid]]
        )
        spent: Dict[str, int] = defaultdict(int)  # ns in each mode: run, ready, sleep
        now, mode = a, "unknown"
        for t, kind in events:
            if t <= a:
                mode = {"in": "run", "out_R": "ready", "out_S": "sleep", "wake": "ready"}[kind]
                continue
            if t >= b:
                break
            spent[mode] += t - now
            now = t
            if kind == "in":
                mode = "run"
            elif kind == "out_R" or (kind == "wake" and mode != "run"):
                mode = "ready"
            elif kind == "out_S":
                mode = "sleep"
        spent[mode] += b - now
        return spent["run"], spent["ready"], spent["sleep"]


def report(trace_path: str, pipeline_path: str, frames: int) -> None:
    with open(pipeline_path) as f:
        summary = json.load(f)
    if "processes" not in summary or "timestamp_ns" not in summary["slowest"][0]:
        sys.exit(f"{pipeline_path} is from an older bench: rerun paced_traced")
    trace = Trace(trace_path)
    names = {0: "idle", summary["bench_tid"]: "bench"}
    for p in summary["processes"]:  # a container's init carries its runner's spec too
        node, comm = p["node"], p["comm"]
        names[p["pid"]] = node if node and comm != "docker-init" else f"{node or '?'}/{comm}"
    hops, medians = summary["hops"], summary["p50_us"]
    receivers = ["echo1", None, "echo2", None, "echo3", None, "bench"]
    totals: Dict[str, int] = defaultdict(int)
    for frame in summary["slowest"][:frames]:
        t = frame["timestamp_ns"]
        bounds = [t]
        for hop in frame["hops_us"]:
            bounds.append(bounds[-1] + int(hop * 1000))
        excess = [h - m for h, m in zip(frame["hops_us"], medians)]
        k = max(range(len(excess)), key=lambda i: excess[i])
        a, b = bounds[k], bounds[k + 1]
        print(
            f"frame {t}: {frame['round_trip_us']:.0f} µs, slowest hop {hops[k]} "
            f"{frame['hops_us'][k]:.0f} µs (median {medians[k]:.0f})"
        )
        who = receivers[k] or hops[k]
        pid = next((p for p, n in names.items() if n == who), None)
        if pid is not None:
            run, ready, sleep = trace.state(pid, a, b)
            print(
                f"  {who} over the hop: on a CPU {run / 1000:.0f} µs, runnable "
                f"{ready / 1000:.0f} µs, asleep {sleep / 1000:.0f} µs"
            )
        for cpu in sorted(trace.switches):
            ran = trace.on_cpu(cpu, a, b)
            for p, ns in ran.items():
                totals[label(p, names, trace)] += ns
            top = sorted(ran.items(), key=lambda kv: -kv[1])[:5]
            cells = ", ".join(f"{label(p, names, trace)} {ns / 1000:.0f}" for p, ns in top)
            print(f"  cpu{cpu}: {cells}")
    delays = sorted(trace.remote_delays)
    if delays:

        def at(q: float) -> float:
            return delays[round((len(delays) - 1) * q)] / 1000

        print(
            f"wake-ups across CPUs, asked → runnable: {len(delays)}, p50 {at(0.5):.0f} µs, "
            f"p99 {at(0.99):.0f} µs, max {at(1.0):.0f} µs, over 300 µs: "
            f"{sum(d > 300_000 for d in delays)}"
        )
    print("over these hops, µs on a CPU by task:")
    for name, ns in sorted(totals.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {name}: {ns / 1000:.0f}")


def label(pid: int, names: Dict[int, str], trace: Trace) -> str:
    return names.get(pid) or f"{trace.comms.get(pid, '?')}-{pid}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--out", default=os.path.join(TARGET, "sched_trace.txt"))
    rec.add_argument("--buffer-kb", type=int, default=262144, help="per CPU")
    rec.add_argument("command", nargs=argparse.REMAINDER)
    rep = sub.add_parser("report")
    rep.add_argument("--trace", default=os.path.join(TARGET, "sched_trace.txt"))
    rep.add_argument("--pipeline", default=os.path.join(TARGET, "pipeline.json"))
    rep.add_argument("--frames", type=int, default=10)
    args = parser.parse_args()
    if args.verb == "record":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("record needs a command after --")
        sys.exit(record(command, args.out, args.buffer_kb))
    report(args.trace, args.pipeline, args.frames)


if __name__ == "__main__":
    main()
