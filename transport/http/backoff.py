"""Delays between attempts to reach something that went away: exponential, bounded, jittered.

Every reconnecting part of the system waits by one rule: the Events API client after a
lost stream, the Bus after its store failed, a listen stream waiting for its store to come
back. Each attempt waits about twice as long as the one before, from ``initial`` up to
``maximum`` seconds; each delay is drawn at random from ``[(1 - jitter) · d, d]`` so that
many listeners cut off by one outage do not all knock again in the same instant::

    delays = Backoff(initial=0.5, maximum=30.0).delays()
    await trio.sleep(next(delays))  # 0.25–0.5 s, then 0.5–1 s, 1–2 s, … at most 30 s

A fresh ``delays()`` starts again from ``initial``: callers take one when a connection is
established, so the next outage starts with a short wait.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Final

import msgspec

__all__ = ["DEFAULT_BACKOFF", "Backoff"]


class Backoff(msgspec.Struct, frozen=True):
    """Delays between reconnection attempts: ``initial``, times ``factor``, at most
    ``maximum`` seconds, each shortened by up to ``jitter`` of itself at random."""

    initial: float = 1.0
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.initial <= self.maximum) or self.factor < 1:
            raise ValueError("a backoff needs 0 < initial <= maximum and factor >= 1")
        if not 0 <= self.jitter < 1:
            raise ValueError("a backoff's jitter is a fraction in [0, 1)")

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The delays, forever; ``rng`` draws the jitter (the module's generator by
        default)."""
        draw = rng.uniform if rng is not None else random.uniform
        delay = self.initial
        while True:
            bound = min(delay, self.maximum)
            yield bound if self.jitter == 0 else draw((1 - self.jitter) * bound, bound)
            delay = min(delay * self.factor, self.maximum)


DEFAULT_BACKOFF: Final = Backoff()
