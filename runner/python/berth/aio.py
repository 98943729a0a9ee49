"""Runs a node's coroutines cheaply from the synchronous receive loop.

A node's `async def process()` usually finishes without ever suspending. Such a coroutine is
stepped directly (`coro.send(None)` until `StopIteration`), with the runner's event loop
registered as the running loop so `asyncio.get_running_loop()` works inside it; that costs
about 2 us against about 30 us for `loop.run_until_complete()`. A coroutine that does suspend
(it awaited a future, a sleep, I/O) is handed to the loop where it stopped and finishes there.
"""

import asyncio
from asyncio import events as _events
from typing import Any, Generator

_set_running_loop = _events._set_running_loop


class _Resume:
    """Continues, inside the event loop, a coroutine that suspended on its first step."""

    def __init__(self, step: Any, first: Any) -> None:
        self._step = step
        self._first = first

    def __await__(self) -> Generator[Any, Any, Any]:
        step, to_yield = self._step, self._first
        while True:
            try:
                sent = yield to_yield
            except GeneratorExit:
                step.close()
                raise
            except BaseException as exc:
                try:
                    to_yield = step.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    to_yield = step.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(step: Any, first: Any) -> Any:
    return await _Resume(step, first)


async def _await_any(awaitable: Any) -> Any:
    return await awaitable


class CoroutineDriver:
    """Owns the runner's event loop; `inline=False` always goes through the loop."""

    def __init__(self, inline: bool = True) -> None:
        self.inline = inline
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)

    def run(self, awaitable: Any) -> Any:
        """The result of `awaitable` (a coroutine, an `__anext__()` step, any awaitable)."""
        if not self.inline:
            return self.loop.run_until_complete(_await_any(awaitable))
        step = awaitable if hasattr(awaitable, "send") else awaitable.__await__()
        _set_running_loop(self.loop)
        try:
            first = step.send(None)
        except StopIteration as stop:
            return stop.value
        finally:
            _set_running_loop(None)
        return self.loop.run_until_complete(_finish(step, first))

    def call(self, result: Any) -> Any:
        """Completes a lifecycle hook's result (a coroutine or a plain value) in the loop."""
        if result is not None and hasattr(result, "__await__"):
            return self.loop.run_until_complete(_await_any(result))
        return result

    def close(self) -> None:
        try:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()
