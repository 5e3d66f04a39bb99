"""At most one log line per period for a failure that repeats: a store outage must not
flood the log with one warning per refused request.

    limit = LogLimit(seconds=10.0)
    if (skipped := limit.due()) is not None:
        log.warning("the store is down (%d more like this not logged)", skipped)

``due()`` answers None while the period since the last line has not passed, counting
what it held back, and the count of held-back lines once a new line is due.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["LogLimit"]


class LogLimit:
    """One line per ``seconds`` (on ``clock``); the rest are counted, not logged."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._seconds = seconds
        self._clock = clock
        self._last: float | None = None
        self._skipped = 0

    def due(self) -> int | None:
        """The number of lines held back since the last one when a line is due, else None."""
        now = self._clock()
        if self._last is not None and now - self._last < self._seconds:
            self._skipped += 1
            return None
        skipped, self._skipped, self._last = self._skipped, 0, now
        return skipped
