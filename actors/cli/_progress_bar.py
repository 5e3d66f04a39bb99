"""The download bar of ``asm inference model-ensure``: progress events drawn with tqdm.

While it pulls a model, the provider publishes ``bus.inference.model.ensure.progress``
events under the request's correlation id (:mod:`actors.bus.progress`), each
payload ``{"model", "status", "completed", "total"}`` (bytes, summed over the layers)::

    with PullProgressBar(enabled=sys.stderr.isatty(), stream=sys.stderr) as bar:
        async for event in events:
            if event.name == MODEL_ENSURE_PROGRESS:
                bar.show(event.payload)

The bar appears with the first progress event (a dry run or a model already present
shows none) and stays on the screen once closed. A payload that is not progress is
skipped: a stray event must not end an operator's wait.
"""

from __future__ import annotations

from types import TracebackType
from typing import Final, TextIO

import msgspec
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type information

__all__ = ["Progress", "PullProgressBar"]


class Progress(msgspec.Struct, frozen=True, kw_only=True):
    """One progress event of a model pull; unknown keys are ignored (a newer provider)."""

    model: str
    status: str = ""
    completed: int = 0
    total: int = 0


_PROGRESS: Final = msgspec.json.Decoder(Progress)


class _Bar(tqdm):  # type: ignore[misc]  # tqdm is untyped
    # No monitor thread: the bar is redrawn as events arrive, from the Trio thread only.
    monitor_interval = 0


class PullProgressBar:
    """A byte-counting tqdm bar on ``stream``, named after the model; a no-op when not
    ``enabled``."""

    def __init__(self, *, enabled: bool, stream: TextIO) -> None:
        self._enabled = enabled
        self._stream = stream
        self._bar: _Bar | None = None

    def __enter__(self) -> PullProgressBar:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def show(self, payload: bytes | msgspec.Raw) -> None:
        """Draw one progress payload (skipped when it is not progress)."""
        if not self._enabled:
            return
        try:
            progress = _PROGRESS.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return
        bar = self._bar
        if bar is None:
            bar = self._bar = _Bar(
                total=progress.total if progress.total > 0 else None,
                desc=progress.model,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=self._stream,
                leave=True,
                dynamic_ncols=True,
            )
        if progress.total > 0 and bar.total != progress.total:
            bar.total = progress.total
        if progress.status:
            bar.set_postfix_str(progress.status, refresh=False)
        completed = max(progress.completed, 0)
        if completed >= bar.n:
            bar.update(completed - bar.n)  # redrawn at most every tqdm.mininterval
        else:  # a pull that restarted: show the bytes as they are now
            bar.n = completed
            bar.refresh()

    def close(self) -> None:
        """Leave the bar's last state on the screen and stop drawing."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
