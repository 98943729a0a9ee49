"""Berth node runner: write nodes as `berth.Node` subclasses; `python -m berth.runner` runs them."""

from .data import Audio, RuntimeData
from .node import Node

__version__ = "0.1.0"

__all__ = ["Audio", "Node", "RuntimeData", "__version__"]
