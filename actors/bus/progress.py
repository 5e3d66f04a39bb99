"""Progress of a long operation, from the provider doing it to the operator waiting for it.

The bridge knows the request's correlation id; the provider knows how far a download
got. While the bridge dispatches a request it installs a sink for the task
(:func:`progress_to`); the provider calls :func:`report_progress` and needs to know
nothing of the bus. The bridge publishes each report under the request's correlation id
as ``bus.inference.model.ensure.progress`` (a model pull) or
``bus.inference.install.progress`` (an install's steps) — **decided**: the eight events
carry no progress; ``asm inference model-ensure`` draws its bar from these, and ``asm
inference install`` prints a line per step::

    with progress_to(sink):
        await provider.ensure_model(request)  # calls report_progress(...) as it pulls
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["ProgressSink", "progress_to", "report_progress"]

ProgressSink = Callable[[Mapping[str, object]], Awaitable[None]]

_sink: ContextVar[ProgressSink | None] = ContextVar("asm_inference_progress", default=None)


@contextmanager
def progress_to(sink: ProgressSink) -> Iterator[None]:
    """Send the reports made in this task (and the tasks it starts) to ``sink``."""
    token = _sink.set(sink)
    try:
        yield
    finally:
        _sink.reset(token)


async def report_progress(progress: Mapping[str, object]) -> None:
    """Report ``progress`` to whoever dispatched the current request (nobody: no-op)."""
    sink = _sink.get()
    if sink is not None:
        await sink(progress)
