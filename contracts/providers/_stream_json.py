"""The shared machinery of the four JSON-line decoders (SPEC §4.1).

Every provider CLI writes one JSON object per stdout line. :class:`JsonLineDecoder` owns
what is the same for all four: framing (blank lines, lines that are not JSON objects),
the text of the answer so far, the reported result, and the classification of the end
of the run in :meth:`~JsonLineDecoder.finish`. A provider subclass only says what its
own line types mean, in ``_decode``::

    class DemoDecoder(JsonLineDecoder):
        provider = "demo"

        def _decode(self, obj: dict[str, Any]) -> list[SessionEvent]:
            if obj.get("type") == "done":
                return self._succeed()
            return []

The field readers (:func:`text_field`, :func:`object_field`, :func:`count`) never raise:
a known line type with a wrong-typed field reads as "absent", so a new CLI version that
reshapes a field degrades to a missing value instead of a crash. The Anthropic-shaped
helpers at the end serve claude and amp, whose lines share Claude Code's shape.
"""

from __future__ import annotations

import math
import re
import signal
from collections.abc import Iterable
from typing import Any, ClassVar

import msgspec

from contracts.session import (
    Failed,
    FailedKind,
    Finished,
    FinishReason,
    Message,
    SessionEvent,
    Started,
    TextDelta,
    Usage,
)

__all__ = [
    "JsonLineDecoder",
    "amount",
    "anthropic_text",
    "anthropic_usage",
    "any_of",
    "capped_sum",
    "clip",
    "count",
    "describe_exit",
    "list_field",
    "object_field",
    "parse_object",
    "text_field",
]

# One untyped decoder for every line: the line types differ per CLI and per version, so
# the providers read fields by hand (see text_field and friends) rather than through
# Structs that would reject a whole line for one unexpected field.
_DECODER = msgspec.json.Decoder()

# JSON integers are unbounded in Python; a count outside int64 is junk, not a count.
_MAX_COUNT = 2**63 - 1

_EXCERPT = 80
"""How much of an offending line a protocol error may quote (repr'd, so it is inert)."""


def parse_object(line: bytes) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None when the line is anything else.

    >>> parse_object(b'{"type": "init"}')
    {'type': 'init'}
    >>> parse_object(b"[1]") is None, parse_object(b"\\xff") is None
    (True, True)
    """
    try:
        value = _DECODER.decode(line)
    # DecodeError covers malformed JSON and out-of-range numbers (ValidationError);
    # invalid UTF-8 inside a string surfaces as UnicodeDecodeError (a ValueError), and
    # absurd nesting as RecursionError.
    except (msgspec.DecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def text_field(obj: object, key: str) -> str | None:
    """``obj[key]`` when ``obj`` is a dict and that value is a string, else None."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, str) else None


def object_field(obj: object, key: str) -> dict[str, Any] | None:
    """``obj[key]`` when ``obj`` is a dict and that value is a JSON object, else None."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, dict) else None


def list_field(obj: object, key: str) -> list[Any]:
    """``obj[key]`` when ``obj`` is a dict and that value is a JSON array, else ``[]``."""
    value = obj.get(key) if isinstance(obj, dict) else None
    return value if isinstance(value, list) else []


def count(value: object) -> int | None:
    """A token count: a non-negative integer within int64, else None (bools are not counts).

    >>> count(12), count(-1), count(True), count("3"), count(2**64)
    (12, None, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= _MAX_COUNT else None


def capped_sum(counts: Iterable[int]) -> int:
    """The sum of token counts, held within int64 like each count: ``capped_sum([1, 2])`` → 3."""
    return min(sum(counts), _MAX_COUNT)


def amount(value: object) -> float | None:
    """A cost or a delay: a finite, non-negative number, else None.

    >>> amount(0.5), amount(-1), amount(True), amount(10**400)
    (0.5, None, None, None)
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return number if math.isfinite(number) and number >= 0 else None


def clip(text: str, limit: int = 300) -> str:
    """``text`` on one line and at most ``limit`` characters, for an event message.

    >>> clip("a\\nb " + "x" * 400, 10)
    'a b xxxxx…'
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_exit(exit_code: int | None) -> str:
    """How the process ended, in words: ``describe_exit(-9)`` → ``'was killed by SIGKILL'``."""
    if exit_code is None:
        return "ended"
    if exit_code < 0:
        try:
            name = signal.Signals(-exit_code).name
        except ValueError:
            name = f"signal {-exit_code}"
        return f"was killed by {name}"
    return f"exited with code {exit_code}"


class JsonLineDecoder:
    """Base of the provider decoders: framing, the answer so far, and the closing events.

    Subclasses set ``provider`` and implement ``_decode``; they report the CLI's final
    result through :meth:`_succeed` or :meth:`_fail`, and may refine how a run without
    a result is classified (``_login_failure``, ``_without_result``).
    """

    provider: ClassVar[str] = "unknown"

    def __init__(self, acks: int = 0) -> None:
        self._expected_acks = acks
        self._acks = 0
        self._done = False
        self._started = False
        self._broken: Failed | None = None
        self._pieces: list[str] = []
        self._answer: str | None = None
        self._finish_reason: FinishReason = "stop"
        self._failure: tuple[FailedKind, str] | None = None
        # Usage the CLI reported but no line has carried out yet (amp sums its lines).
        self._pending_usage: Usage | None = None

    @property
    def acks(self) -> int:
        """How many acknowledgements of earlier stdin writes the CLI has given."""
        return self._acks

    @property
    def done(self) -> bool:
        """True once the CLI's final result line has been decoded."""
        return self._done

    @property
    def succeeded(self) -> bool:
        """True once a reported success decided the run (the exit code no longer matters)."""
        return self._done and self._broken is None and self._failure is None

    @property
    def text(self) -> str:
        """The answer so far: every streamed piece in order, unless a subclass chose one."""
        return self._answer if self._answer is not None else "".join(self._pieces)

    def feed(self, line: bytes) -> list[SessionEvent]:
        """Decode one stdout line (without its newline) into zero or more events."""
        # After the result (or a broken line) the run is decided: late output of a CLI
        # shutting down must not turn a reported success into a protocol error.
        if self._done or self._broken is not None:
            return []
        stripped = line.strip()
        if not stripped:
            return []
        obj = parse_object(stripped)
        if obj is None:
            self._broken = self._not_json(stripped)
            return [self._broken]
        return self._decode(obj)

    def finish(self, exit_code: int | None, stderr_tail: str) -> list[SessionEvent]:
        """The closing events: any Usage not yet sent, then exactly one Finished or Failed.

        ``stderr_tail`` only informs the classification; it never enters an event.
        """
        events: list[SessionEvent] = []
        if self._pending_usage is not None:
            events.append(self._pending_usage)
            self._pending_usage = None
        events.append(self._closing(exit_code, stderr_tail))
        return events

    # -- for subclasses ----------------------------------------------------------------

    def _decode(self, obj: dict[str, Any]) -> list[SessionEvent]:
        """The events of one JSON object; unknown types give ``[]``."""
        raise NotImplementedError

    def _start(self, obj: dict[str, Any], session_key: str = "session_id") -> list[SessionEvent]:
        """Started from the CLI's first start line (a repeated one gives nothing)."""
        if self._started:
            return []
        self._started = True
        session_id = text_field(obj, session_key)
        return [
            Started(provider=self.provider, session_id=session_id, model=text_field(obj, "model"))
        ]

    def _delta(self, text: str) -> list[SessionEvent]:
        """A streamed piece of the answer (nothing for an empty piece)."""
        if not text:
            return []
        self._pieces.append(text)
        return [TextDelta(text=text)]

    def _message(self, text: str) -> list[SessionEvent]:
        """A whole block of the answer (nothing for an empty block)."""
        if not text:
            return []
        self._pieces.append(text)
        return [Message(text=text)]

    def _acknowledge(self) -> bool:
        """Count one acknowledgement if one is still awaited (the line is then no result)."""
        if self._acks >= self._expected_acks:
            return False
        self._acks += 1
        return True

    def _succeed(self, finish_reason: FinishReason | None = None) -> list[SessionEvent]:
        """Record a reported success; the run is done."""
        self._done = True
        if finish_reason is not None:
            self._finish_reason = finish_reason
        return []

    def _fail(self, kind: FailedKind, message: str) -> list[SessionEvent]:
        """Record a reported failure; the run is done."""
        self._done = True
        self._failure = (kind, message)
        return []

    def _not_json(self, line: bytes) -> Failed:
        """The failure for a stdout line that is not a JSON object."""
        excerpt = repr(line.decode("utf-8", "replace")[:_EXCERPT])
        return Failed(
            kind="protocol_error",
            message=f"{self.provider}: stdout line is not a JSON object: {excerpt}",
        )

    def _classify(
        self, kind: FailedKind, message: str, exit_code: int | None
    ) -> tuple[FailedKind, str]:
        """Refine a reported failure once the exit code is known (gemini's exit 41)."""
        return kind, message

    def _login_failure(self, stderr_tail: str) -> bool:
        """Whether a run that reported no result failed for want of a login."""
        return False

    def _without_result(self, exit_code: int | None, stderr_tail: str) -> Failed:
        """The failure of a run that ended without reporting a result."""
        ended = f"{self.provider} {describe_exit(exit_code)}"
        if self._login_failure(stderr_tail):
            return Failed(
                kind="not_logged_in",
                message=f"{self.provider}: not logged in ({ended})",
                exit_code=exit_code,
            )
        if exit_code == 0:
            return Failed(
                kind="protocol_error",
                message=f"{ended} without a result line",
                exit_code=exit_code,
            )
        return Failed(kind="crashed", message=f"{ended} without a result", exit_code=exit_code)

    def _closing(self, exit_code: int | None, stderr_tail: str) -> Finished | Failed:
        if self._broken is not None:
            return Failed(kind=self._broken.kind, message=self._broken.message, exit_code=exit_code)
        if self._failure is not None:
            kind, message = self._classify(*self._failure, exit_code)
            return Failed(kind=kind, message=message, exit_code=exit_code)
        if self._done:
            return Finished(finish_reason=self._finish_reason, text=self.text)
        return self._without_result(exit_code, stderr_tail)


# -- the Anthropic shape (claude, amp) -------------------------------------------------


def anthropic_text(message: object) -> str:
    """The text blocks of an Anthropic message, joined; thinking and tool blocks skipped.

    >>> anthropic_text({"content": [{"type": "text", "text": "Hi"}, {"type": "tool_use"}]})
    'Hi'
    """
    parts = [
        text
        for block in list_field(message, "content")
        if text_field(block, "type") == "text" and (text := text_field(block, "text"))
    ]
    return "".join(parts)


def anthropic_usage(usage: object) -> tuple[int, int, int] | None:
    """(prompt tokens, output tokens, cache reads) of an Anthropic usage object.

    Anthropic's ``input_tokens`` excludes cached tokens, so the prompt is input plus
    cache reads plus cache writes (the OpenAI meaning of ``prompt_tokens``). None when
    neither input nor output is a count.

    >>> anthropic_usage({"input_tokens": 3, "cache_read_input_tokens": 1024,
    ...                  "cache_creation_input_tokens": 10, "output_tokens": 5})
    (1037, 5, 1024)
    """
    if not isinstance(usage, dict):
        return None
    fresh = count(usage.get("input_tokens"))
    output = count(usage.get("output_tokens"))
    if fresh is None and output is None:
        return None
    read = count(usage.get("cache_read_input_tokens")) or 0
    written = count(usage.get("cache_creation_input_tokens")) or 0
    prompt = capped_sum((fresh or 0, read, written))
    return prompt, output or 0, read


def any_of(*phrases: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any of ``phrases`` (regular expressions).

    >>> bool(any_of(r"not logged in", r"\\b401\\b").search("HTTP 401 Unauthorized"))
    True
    """
    return re.compile("|".join(phrases), re.IGNORECASE)
