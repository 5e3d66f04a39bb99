"""Unwrapping what Trio nurseries wrap: a group of one exception is that exception."""

from __future__ import annotations

__all__ = ["sole_exception"]


def sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException | None:
    """The one exception a chain of one-member groups wraps; None when there are more."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup):
        if len(inner.exceptions) != 1:
            return None
        inner = inner.exceptions[0]
    return inner
