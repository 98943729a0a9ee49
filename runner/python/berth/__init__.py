"""Berth node runner: write nodes as `berth.Node` subclasses; `python -m berth.runner` runs them."""

import sys as _sys
from os import environ as _environ

if _environ.get("BERTH_RUNNER_BYTECODE") == "1":
    # In a container the host mounts a writable folder over this package's `__pycache__`: the
    # runner compiles its modules once, not at every start. `runner.main` puts the
    # interpreter's own setting back before any node code loads.
    _sys.dont_write_bytecode = False

from .data import Audio, RuntimeData  # noqa: E402
from .node import Node  # noqa: E402

__version__ = "0.1.0"

__all__ = ["Audio", "Node", "RuntimeData", "__version__"]
