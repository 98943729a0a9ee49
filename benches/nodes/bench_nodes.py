"""Nodes the benchmarks run."""

from berth import Node, RuntimeData


class BenchEcho(Node):
    """Returns its input unchanged (the runner writes it straight into the output sample)."""

    async def process(self, data: RuntimeData) -> RuntimeData:
        return data
