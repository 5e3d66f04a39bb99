"""Properties every provider decoder keeps, whatever its CLI writes (LineDecoder contract)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts.providers import DRIVERS
from contracts.session import (
    Failed,
    Finished,
    Message,
    SessionEvent,
    Started,
    TextDelta,
    Usage,
    Warning,
    decode_event,
    encode_event,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
GOLDEN_LINES = sorted(
    line for path in GOLDEN.glob("*.jsonl") for line in path.read_bytes().splitlines()
)


def _objects(recorded: list[bytes]) -> list[dict[str, Any]]:
    """The JSON objects among the recorded lines (amp's plain-text notice is not one)."""
    found = []
    for line in recorded:
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            found.append(value)
    return found


GOLDEN_OBJECTS = _objects(GOLDEN_LINES)

# The vocabulary of the four CLIs, so generated objects often look like known lines.
TYPE_NAMES = [
    "system",
    "init",
    "api_retry",
    "status",
    "stream_event",
    "message_start",
    "content_block_delta",
    "text_delta",
    "thinking_delta",
    "message_delta",
    "assistant",
    "user",
    "result",
    "success",
    "error",
    "error_during_execution",
    "thread.started",
    "turn.started",
    "item.completed",
    "agent_message",
    "turn.completed",
    "turn.failed",
    "message",
    "tool_use",
    "tool_result",
    "warning",
    "text",
    "thinking",
    "<synthetic>",
]
FIELD_NAMES = [
    "type",
    "subtype",
    "session_id",
    "thread_id",
    "model",
    "event",
    "message",
    "delta",
    "text",
    "id",
    "content",
    "stop_reason",
    "usage",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cached_input_tokens",
    "cached",
    "result",
    "is_error",
    "errors",
    "error",
    "total_cost_usd",
    "attempt",
    "max_retries",
    "retry_delay_ms",
    "error_status",
    "item",
    "role",
    "severity",
    "status",
    "stats",
    "models",
]
PHRASES = [
    "Not logged in · Please run /login",
    "401 Unauthorized",
    "max_tokens",
    "assistant",
    "No API key found",
    "Couldn't connect to the Amp server at http://x",
    "\x00\ud7ff",
]

NON_TERMINAL = (Started, TextDelta, Message, Usage, Warning)

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(TYPE_NAMES + PHRASES)
)
keys = st.sampled_from(FIELD_NAMES) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=6),
    max_leaves=30,
)
shaped_objects = st.builds(
    lambda kind, rest: {**rest, "type": kind},
    st.sampled_from(TYPE_NAMES) | json_values,
    st.dictionaries(keys, json_values, max_size=8),
)


def _sites(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (the root excluded)."""
    if path:
        yield path
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            yield from _sites(child, (*path, key))


MUTATION_SITES = [(i, path) for i, obj in enumerate(GOLDEN_OBJECTS) for path in _sites(obj)]


def _mutate(site: tuple[int, tuple[Any, ...]], replacement: Any) -> dict[str, Any]:
    """A recorded line with the value at one path replaced (a known type, wrong fields)."""
    index, path = site
    obj = copy.deepcopy(GOLDEN_OBJECTS[index])
    parent = obj
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = replacement
    return obj


mutated_objects = st.builds(_mutate, st.sampled_from(MUTATION_SITES), json_values)
json_objects = shaped_objects | mutated_objects


def runs(provider: str, *, raw_bytes: bool) -> st.SearchStrategy[list[bytes]]:
    """Line sequences: the provider's recorded lines (often), any recorded line, generated
    objects, and with ``raw_bytes`` arbitrary bytes too."""
    own = st.sampled_from(
        sorted(
            line
            for path in GOLDEN.glob(f"{provider}-*.jsonl")
            for line in path.read_bytes().splitlines()
        )
    )
    choices = [own, own, st.sampled_from(GOLDEN_LINES), json_objects.map(msgspec.json.encode)]
    if raw_bytes:
        choices.append(st.binary(max_size=200))
    return st.lists(st.one_of(choices), max_size=25)


SUCCESS_LINES = {
    provider: (GOLDEN / name).read_bytes().splitlines()[-1]
    for provider, name in [
        ("claude", "claude-2.1.197-completion.jsonl"),
        ("codex", "codex-0.169.0-completion.jsonl"),
        ("gemini", "gemini-0.61.0-completion.jsonl"),
        ("amp", "amp-handmade-completion.jsonl"),
    ]
}
exit_codes = st.none() | st.integers(min_value=-64, max_value=255)

PROVIDERS = list(DRIVERS)


def _round_trips(event: SessionEvent) -> bool:
    """The event is valid by its own type's constraints (e.g. counts are non-negative)."""
    return decode_event(encode_event(event)) == event


@pytest.mark.parametrize("provider", PROVIDERS)
@given(line=st.binary(max_size=300))
def test_any_bytes_as_a_line_never_raise(provider: str, line: bytes) -> None:
    """Rule: feed takes any bytes; it gives running events, or one Failed for a non-object."""
    events = DRIVERS[provider].decoder().feed(line)
    assert all(isinstance(event, NON_TERMINAL) for event in events) or (
        len(events) == 1 and isinstance(events[0], Failed)
    )
    assert all(_round_trips(event) for event in events)


@pytest.mark.parametrize("provider", PROVIDERS)
@given(obj=json_objects)
def test_any_json_object_gives_only_valid_running_events(provider: str, obj: Any) -> None:
    """Rule: a JSON object, known type or not and whatever its fields, never fails the run
    and never raises; it gives only Started, TextDelta, Message, Usage and Warning."""
    events = DRIVERS[provider].decoder().feed(msgspec.json.encode(obj))
    assert all(isinstance(event, NON_TERMINAL) for event in events)
    assert all(_round_trips(event) for event in events)


def _session(
    provider: str, sequence: list[bytes], exit_code: int | None, stderr: str
) -> tuple[list[SessionEvent], list[SessionEvent]]:
    """(events of every feed, events of finish) for one run; checks feed's own rules."""
    decoder = DRIVERS[provider].decoder()
    fed: list[SessionEvent] = []
    was_done = False
    for line in sequence:
        events = decoder.feed(line)
        if any(isinstance(event, Failed) for event in fed):
            assert events == []  # a failed run stays decided
        fed += events
        assert decoder.done or not was_done  # done never turns back
        was_done = decoder.done
    return fed, decoder.finish(exit_code, stderr)


@pytest.mark.parametrize("provider", PROVIDERS)
@given(data=st.data(), exit_code=exit_codes, stderr=st.text(max_size=60))
def test_finish_ends_any_run_with_exactly_one_terminal_event_last(
    provider: str, data: st.DataObject, exit_code: int | None, stderr: str
) -> None:
    """Rule: after any line sequence, finish gives Usage events then exactly one Finished or
    Failed, last; Started comes at most once; every event is valid; stderr stays out."""
    sequence = data.draw(runs(provider, raw_bytes=True))
    fed, closing = _session(provider, sequence, exit_code, stderr)
    *leading, terminal = closing
    assert isinstance(terminal, Finished | Failed)
    assert all(isinstance(event, Usage) for event in leading)
    assert sum(isinstance(event, Started) for event in fed) <= 1
    assert all(_round_trips(event) for event in fed + closing)
    if isinstance(terminal, Failed):
        assert terminal.exit_code == exit_code
        assert terminal.stderr_tail is None


@pytest.mark.parametrize("provider", PROVIDERS)
@given(data=st.data(), exit_code=exit_codes)
def test_finished_text_is_the_answer_that_was_streamed(
    provider: str, data: st.DataObject, exit_code: int | None
) -> None:
    """Rule: text is never counted twice: Finished.text is the streamed TextDelta and
    Message texts joined (for codex, whose messages are whole answers, the last one)."""
    # Ending on the provider's recorded success line makes most runs finish.
    sequence = [*data.draw(runs(provider, raw_bytes=False)), SUCCESS_LINES[provider]]
    fed, closing = _session(provider, sequence, exit_code, "")
    if not isinstance(closing[-1], Finished):
        return
    pieces = [event.text for event in fed if isinstance(event, TextDelta | Message)]
    if provider == "codex":
        assert closing[-1].text == (pieces[-1] if pieces else "")
    else:
        assert closing[-1].text == "".join(pieces)
