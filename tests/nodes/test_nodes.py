"""Python nodes the end-to-end tests run."""

import os

import numpy as np

from berth import Node, RuntimeData


class Scale(Node):
    """Multiplies audio by `params["gain"]` in float32."""

    async def initialize(self) -> None:
        self.gain = np.float32(self.params.get("gain", 1.0))

    async def process(self, data: RuntimeData) -> RuntimeData:
        audio = data.audio
        return RuntimeData.audio(audio.samples * self.gain, audio.sample_rate, audio.channels)


class Echo(Node):
    """Returns its input unchanged."""

    async def process(self, data: RuntimeData) -> RuntimeData:
        return data


class FailOnNegative(Node):
    """Raises when the first sample is negative; otherwise echoes."""

    async def process(self, data: RuntimeData) -> RuntimeData:
        if data.audio.samples[0] < 0:
            raise ValueError(f"negative first sample {data.audio.samples[0]}")
        return data


class CrashAfter(Node):
    """Exits the whole process after `params["frames"]` frames, like a segfaulting extension."""

    async def initialize(self) -> None:
        self.left = int(self.params.get("frames", 3))

    async def process(self, data: RuntimeData) -> RuntimeData:
        self.left -= 1
        if self.left < 0:
            os._exit(3)
        return data


class Hog(Node):
    """Allocates `params["mb"]` MiB per frame and keeps it."""

    async def initialize(self) -> None:
        self.kept = []

    async def process(self, data: RuntimeData) -> RuntimeData:
        self.kept.append(np.ones(int(self.params.get("mb", 64)) * (1 << 18), dtype=np.float32))
        return data
