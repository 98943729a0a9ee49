"""Nodes the benchmarks run."""

import time

import numpy as np

from berth import Node, RuntimeData


class BenchEcho(Node):
    """Returns its input unchanged (the runner writes it straight into the output sample)."""

    def process(self, data: RuntimeData) -> RuntimeData:
        return data


class BenchStamp(Node):
    """Returns its input with `CLOCK_MONOTONIC` at `process()` entry in its first 8 bytes (an
    int64 over the first two samples): where a round trip's time goes, host → node and back."""

    def process(self, data: RuntimeData) -> RuntimeData:
        entered = time.monotonic_ns()
        audio = data.audio
        out = self.loan_audio(
            audio.num_frames, audio.sample_rate, audio.channels, data.timestamp_ns
        )
        samples = out.audio.samples
        samples[:] = audio.samples.reshape(-1)
        samples[:2].view(np.int64)[0] = entered
        return out
