"""Built-in nodes, found by `node_type` when no node folder defines a class of that name."""

from typing import Optional

import numpy as np

from .data import RuntimeData
from .node import Node


class Identity(Node):
    """Sends every input frame on unchanged."""

    async def process(self, data: RuntimeData) -> Optional[RuntimeData]:
        return data


class Gain(Node):
    """Multiplies audio by `params["gain"]` (float32 math); other frames pass through."""

    async def initialize(self) -> None:
        self.gain = np.float32(self.params.get("gain", 1.0))

    async def process(self, data: RuntimeData) -> Optional[RuntimeData]:
        if data.kind != "audio":
            return data
        audio = data.audio
        return RuntimeData.audio(
            audio.samples * self.gain, audio.sample_rate, audio.channels, data.timestamp_ns
        )


BUILTIN_NODES = {cls.__name__: cls for cls in (Identity, Gain)}
