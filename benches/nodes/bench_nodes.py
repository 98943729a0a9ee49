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


class BenchTouch(Node):
    """Loans an output the size of its input and copies only the first and last sample into
    it: what a frame costs beyond the work a node does on its bytes, at any frame size."""

    def process(self, data: RuntimeData) -> RuntimeData:
        audio = data.audio
        out = self.loan_audio(
            audio.num_frames, audio.sample_rate, audio.channels, data.timestamp_ns
        )
        samples, target = audio.samples.reshape(-1), out.audio.samples
        target[0], target[-1] = samples[0], samples[-1]
        return out
