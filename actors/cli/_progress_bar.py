"""Progress on stderr: the download bar of ``asm inference model-ensure`` (tqdm), and
the step lines of ``asm inference install``.

While it pulls a model, the provider publishes ``bus.inference.model.ensure.progress``
events under the request's correlation id (:mod:`actors.bus.progress`), each
payload ``{"model", "status", "completed", "total"}`` (bytes, summed over the layers)::

    with PullProgressBar(enabled=sys.stderr.isatty(), stream=sys.stderr) as bar:
        async for event in events:
            if event.name == MODEL_ENSURE_PROGRESS:
                bar.show(event.payload)

The bar appears with the first progress event (a dry run or a model already present
shows none) and stays on the screen once closed. An install's
``bus.inference.install.progress`` events (``{"action", "step", "steps", "status",
"seconds"}``, and while the download prints: ``"output"``, its latest line, and
``"percent"``) become one line each (:class:`InstallSteps`)::

    asm inference install: [2/7] download-runtime started
    asm inference install: [2/7] download-runtime running (1.0 s): >>> Downloading Linux bundle
    asm inference install: [2/7] download-runtime running (5.0 s): 42.5%
    asm inference install: [2/7] download-runtime done (12.3 s)

A payload that is not progress is skipped (and an action or status that is not a plain
word, so no event can write control characters to the terminal): a stray event must not
end an operator's wait.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Final, Literal, TextIO

import msgspec
from tqdm import tqdm  # type: ignore[import-untyped]  # tqdm ships no type information

__all__ = ["OUTPUT_SHOWN", "InstallStep", "InstallSteps", "Progress", "PullProgressBar"]


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


class InstallStep(msgspec.Struct, frozen=True, kw_only=True):
    """One progress event of an install; unknown keys are ignored (a newer provider)."""

    action: str
    step: int
    steps: int
    status: Literal["started", "running", "done", "failed"]
    seconds: float | None = None
    output: str = ""
    percent: float | None = None


_STEP: Final = msgspec.json.Decoder(InstallStep)
OUTPUT_SHOWN: Final = 160
"""The most of a step's ``output`` line a step line shows, in characters."""
_ACTION_OK: Final = re.compile(r"[a-z][a-z0-9-]{0,63}").fullmatch


class InstallSteps:
    """Each install step's start, heartbeat and end as a line on ``stream``, after
    ``prefix``; a no-op when not ``enabled``."""

    def __init__(self, *, enabled: bool, stream: TextIO, prefix: str) -> None:
        self._enabled = enabled
        self._stream = stream
        self._prefix = prefix

    def show(self, payload: bytes | msgspec.Raw) -> None:
        """Print one progress payload as a line (skipped when it is not install progress)."""
        if not self._enabled:
            return
        try:
            step = _STEP.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return
        if _ACTION_OK(step.action) is None:
            return
        took = "" if step.seconds is None else f" ({step.seconds:.1f} s)"
        line = f"{self._prefix}: [{step.step}/{step.steps}] {step.action} {step.status}{took}"
        if step.percent is not None and 0 <= step.percent <= 100:
            line += f": {step.percent:.1f}%"
        elif said := "".join(c for c in step.output if c.isprintable()).strip()[:OUTPUT_SHOWN]:
            line += f": {said}"
        print(line, file=self._stream, flush=True)
