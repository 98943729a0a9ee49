"""Python nodes the end-to-end tests run."""

import os
import time

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


def _require_numpy(major: int) -> None:
    found = int(np.__version__.split(".")[0])
    if found != major:
        raise RuntimeError(f"this node needs numpy {major}.x, its image has numpy {np.__version__}")


class ScaleNumpy1(Node):
    """Scales audio using `np.float_`, which numpy 2 removed: runs only with numpy 1.x."""

    async def initialize(self) -> None:
        _require_numpy(1)
        self.gain = np.float32(np.float_(self.params.get("gain", 1.0)))  # type: ignore[attr-defined]

    async def process(self, data: RuntimeData) -> RuntimeData:
        audio = data.audio
        return RuntimeData.audio(audio.samples * self.gain, audio.sample_rate, audio.channels)


class ScaleNumpy2(Node):
    """Scales audio using `np.astype`, which numpy 2.1 added: runs only with numpy 2.x."""

    async def initialize(self) -> None:
        _require_numpy(2)
        self.gain = np.float32(self.params.get("gain", 1.0))

    async def process(self, data: RuntimeData) -> RuntimeData:
        audio = data.audio
        scaled = np.astype(audio.samples * self.gain, np.float32)  # type: ignore[attr-defined]
        return RuntimeData.audio(scaled, audio.sample_rate, audio.channels)


class OnnxInfo(Node):
    """Answers every frame with the onnxruntime version and whether it can run on the CPU."""

    async def initialize(self) -> None:
        import onnxruntime  # type: ignore[import-not-found]

        cpu = "CPUExecutionProvider" in onnxruntime.get_available_providers()
        self.info = f"onnxruntime {onnxruntime.__version__} cpu={cpu}"

    async def process(self, data: RuntimeData) -> RuntimeData:
        return RuntimeData.text(self.info)


class CrashOnce(Node):
    """Exits the whole process on frame `params["frames"]` (0-based) unless `params["marker"]`
    exists, creating it first: it dies once, and its restarted runner goes on echoing."""

    async def initialize(self) -> None:
        self.left = int(self.params.get("frames", 3))
        self.marker = str(self.params["marker"])

    def misbehave(self) -> None:
        os._exit(3)

    async def process(self, data: RuntimeData) -> RuntimeData:
        self.left -= 1
        if self.left < 0 and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(f"{type(self).__name__}\n")
            self.misbehave()
        return data


class HangOnce(CrashOnce):
    """Like `CrashOnce`, but sleeps far past any timeout instead of exiting."""

    def misbehave(self) -> None:
        time.sleep(3600)


class Interfaces(Node):
    """Answers every frame with the network interfaces it sees, sorted, comma-separated."""

    async def process(self, data: RuntimeData) -> RuntimeData:
        return RuntimeData.text(",".join(sorted(os.listdir("/sys/class/net"))))
