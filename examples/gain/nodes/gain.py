"""A gain node: multiplies every sample by `params["gain"]`."""

import numpy as np

from berth import Node, RuntimeData


class Gain(Node):
    """Scales audio in float32, so the result is bit-exact with `samples * np.float32(gain)`."""

    def initialize(self) -> None:
        self.gain = np.float32(self.params.get("gain", 1.0))

    def process(self, data: RuntimeData) -> RuntimeData:
        audio = data.audio
        return RuntimeData.audio(audio.samples * self.gain, audio.sample_rate, audio.channels)
