"""Built-in nodes, found by `node_type` when no node folder defines a class of that name."""

from typing import Optional

import numpy as np

from .data import RuntimeData
from .node import Node


class Identity(Node):
    """Sends every input frame on unchanged."""

    def process(self, data: RuntimeData) -> Optional[RuntimeData]:
        return data


class Gain(Node):
    """Multiplies audio by `params["gain"]` (float32 math) into an output loaned in shared
    memory (no copy; `params["loaned"]: false` returns a fresh array instead, copied once when
    sent); other frames pass through."""

    def initialize(self) -> None:
        self.gain = np.float32(self.params.get("gain", 1.0))
        self.loaned = bool(self.params.get("loaned", True))

    def process(self, data: RuntimeData) -> Optional[RuntimeData]:
        if data.kind != "audio":
            return data
        audio = data.audio
        if not self.loaned:
            return RuntimeData.audio(
                audio.samples * self.gain, audio.sample_rate, audio.channels, data.timestamp_ns
            )
        out = self.loan_audio(
            audio.num_frames, audio.sample_rate, audio.channels, data.timestamp_ns
        )
        np.multiply(audio.samples.reshape(-1), self.gain, out=out.audio.samples)
        return out


BUILTIN_NODES = {cls.__name__: cls for cls in (Identity, Gain)}
