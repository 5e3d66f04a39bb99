"""Provider decoders against recorded CLI output (SPEC §4.1, §4.4).

The ``*-<version>-*.jsonl`` goldens are real output of the pinned CLIs
(shared/PROVIDERS.md); the ``*-handmade-*.jsonl`` ones are written after the CLIs'
documented line shapes, for the cases the real runs did not cover.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.providers import driver
from contracts.session import (
    Failed,
    Finished,
    Message,
    SessionEvent,
    Started,
    TextDelta,
    Usage,
    Warning,
)

GOLDEN = Path(__file__).resolve().parents[2] / "golden"


def recorded(name: str) -> list[bytes]:
    """The lines of a golden file, without their newlines."""
    return (GOLDEN / name).read_bytes().splitlines()


def run(
    provider: str, lines: list[bytes], exit_code: int | None, stderr_tail: str = ""
) -> list[SessionEvent]:
    """Every event of one session, fed as the session actor feeds it.

    A Failed from ``feed`` ends the run there, as it ends the actor's.
    """
    found = driver(provider)
    assert found is not None
    decoder = found.decoder()
    events: list[SessionEvent] = []
    for line in lines:
        fed = decoder.feed(line)
        events += fed
        if any(isinstance(event, Failed) for event in fed):
            return events
    return events + decoder.finish(exit_code, stderr_tail)


CLAUDE_SESSION = "eeec4444-b2a1-4529-864d-16cbfe6dac8e"
CODEX_THREAD = "01a1fc98-3ce3-7d41-ac93-1ce3fff78b9f"
GEMINI_SESSION = "febc91bb-7055-4ab6-8b50-5f5b9028c595"
AMP_THREAD = "T-5f2e8a1c-0d3b-4c6e-9a7f-1b2c3d4e5f60"
RETRY = "claude: API request failed (unknown); retry {} of 10 in {} s"
UNAUTHORIZED = (
    "unexpected status 401 Unauthorized: Missing bearer or basic authentication in header"
)
QUOTA = "Quota exceeded for quota metric 'Generate Content API requests per minute'"

GOLDENS: list[tuple[str, str, int | None, list[SessionEvent]]] = [
    (
        "claude",
        "claude-2.1.197-completion.jsonl",
        0,
        [
            Started(provider="claude", session_id=CLAUDE_SESSION, model="claude-sonnet-4-5"),
            *(TextDelta(text=t) for t in ("Hello", " from", " the", " fake", " upstream")),
            Usage(input_tokens=21, output_tokens=5, cached_input_tokens=0, cost_usd=0.000138),
            Finished(finish_reason="stop", text="Hello from the fake upstream"),
        ],
    ),
    (
        "claude",
        "claude-2.1.197-unreachable-upstream.jsonl",
        -15,
        [
            Started(
                provider="claude",
                session_id="45f4bc93-99d3-4ff5-aaee-ed7fab3cef97",
                model="claude-sonnet-4-5",
            ),
            Warning(message=RETRY.format(1, "0.6")),
            Warning(message=RETRY.format(2, "1.2")),
            Warning(message=RETRY.format(3, "2.1")),
            Warning(message=RETRY.format(4, "4.6")),
            Failed(
                kind="crashed",
                message="claude was killed by SIGTERM without a result",
                exit_code=-15,
            ),
        ],
    ),
    (
        "claude",
        "claude-handmade-not-logged-in.jsonl",
        1,
        [
            Started(
                provider="claude",
                session_id="0b7c9d1e-4f10-4aaa-8bbb-5d6e7f809a1b",
                model="claude-sonnet-4-5",
            ),
            Usage(input_tokens=0, output_tokens=0, cached_input_tokens=0, cost_usd=0.0),
            Failed(
                kind="not_logged_in",
                message="claude: not logged in (Not logged in · Please run /login)",
                exit_code=1,
            ),
        ],
    ),
    (
        "claude",
        "claude-handmade-max-tokens.jsonl",
        0,
        [
            Started(
                provider="claude",
                session_id="1c8d0e2f-5a21-4bbb-9ccc-6e7f8091a2b3",
                model="claude-sonnet-4-5",
            ),
            TextDelta(text="Once upon"),
            TextDelta(text=" a time"),
            Usage(input_tokens=115, output_tokens=4, cached_input_tokens=100, cost_usd=0.001),
            Finished(finish_reason="length", text="Once upon a time"),
        ],
    ),
    (
        "claude",
        "claude-handmade-whole-messages.jsonl",
        0,
        [
            Started(
                provider="claude",
                session_id="2d9e1f30-6b32-4ccc-addd-7f8091a2b3c4",
                model="claude-sonnet-4-5",
            ),
            Message(text="Hello there."),
            Usage(input_tokens=12, output_tokens=3, cached_input_tokens=0, cost_usd=0.00006),
            Finished(finish_reason="stop", text="Hello there."),
        ],
    ),
    (
        "claude",
        "claude-handmade-error-result.jsonl",
        1,
        [
            Started(
                provider="claude",
                session_id="3ea02041-7c43-4ddd-beee-8091a2b3c4d5",
                model="claude-sonnet-4-5",
            ),
            Usage(input_tokens=0, output_tokens=0, cached_input_tokens=0, cost_usd=0.0),
            Failed(
                kind="crashed", message="claude: API Error: 500 Internal server error", exit_code=1
            ),
        ],
    ),
    (
        "codex",
        "codex-0.169.0-completion.jsonl",
        0,
        [
            Started(provider="codex", session_id=CODEX_THREAD),
            Warning(
                message="codex: Model metadata for `gpt-5` not found. Defaulting to fallback"
                " metadata; this can degrade performance and cause issues."
            ),
            Message(text="Hello from fake responses"),
            Usage(input_tokens=30, output_tokens=6, cached_input_tokens=4),
            Finished(finish_reason="stop", text="Hello from fake responses"),
        ],
    ),
    (
        "codex",
        "codex-handmade-unauthorized.jsonl",
        1,
        [
            Started(provider="codex", session_id="0199a213-81c0-7800-8aa1-bbab2a035a53"),
            Warning(message=f"codex: Reconnecting... 1/5 ({UNAUTHORIZED})"),
            Warning(message=f"codex: Reconnecting... 2/5 ({UNAUTHORIZED})"),
            Failed(kind="not_logged_in", message=f"codex: {UNAUTHORIZED}", exit_code=1),
        ],
    ),
    (
        "codex",
        "codex-handmade-two-messages.jsonl",
        0,
        [
            Started(provider="codex", session_id="0199a214-02d1-7a10-9bb2-ccbc3b146b64"),
            Message(text="Let me add them."),
            Message(text="2 + 2 = 4."),
            Usage(input_tokens=2048, output_tokens=12, cached_input_tokens=1024),
            Finished(finish_reason="stop", text="2 + 2 = 4."),
        ],
    ),
    (
        "gemini",
        "gemini-0.61.0-completion.jsonl",
        0,
        [
            Started(provider="gemini", session_id=GEMINI_SESSION, model="gemini-2.5-flash"),
            *(TextDelta(text=t) for t in ("Hello", " from", " fake", " gemini")),
            Usage(input_tokens=12, output_tokens=4, cached_input_tokens=0),
            Finished(finish_reason="stop", text="Hello from fake gemini"),
        ],
    ),
    (
        "gemini",
        "gemini-handmade-api-error.jsonl",
        1,
        [
            Started(
                provider="gemini",
                session_id="0f1e2d3c-4b5a-4697-8877-665544332211",
                model="gemini-2.5-flash",
            ),
            Warning(message="gemini: Loop detected, stopping execution"),
            TextDelta(text="Hel"),
            Usage(input_tokens=0, output_tokens=0, cached_input_tokens=0),
            Failed(kind="crashed", message=f"gemini: [API Error: {QUOTA}]", exit_code=1),
        ],
    ),
    (
        "gemini",
        "gemini-handmade-auth-error.jsonl",
        41,
        [
            Usage(input_tokens=0, output_tokens=0, cached_input_tokens=0),
            Failed(
                kind="not_logged_in", message="gemini: Invalid auth method selected.", exit_code=41
            ),
        ],
    ),
    (
        "gemini",
        "gemini-handmade-two-models.jsonl",
        0,
        [
            Started(
                provider="gemini",
                session_id="1a2b3c4d-5e6f-4789-9abc-def012345678",
                model="gemini-2.5-pro",
            ),
            Message(text="Routed."),
            Usage(input_tokens=150, output_tokens=40, cached_input_tokens=100),
            Finished(finish_reason="stop", text="Routed."),
        ],
    ),
    (
        "amp",
        "amp-handmade-completion.jsonl",
        0,
        [
            Started(provider="amp", session_id=AMP_THREAD),
            Message(text="Hello"),
            Message(text=" from amp."),
            Usage(input_tokens=845, output_tokens=11, cached_input_tokens=720),
            Finished(finish_reason="stop", text="Hello from amp."),
        ],
    ),
    (
        "amp",
        "amp-handmade-no-api-key.jsonl",
        1,
        [Failed(kind="not_logged_in", message="amp: not logged in (run `amp login`)")],
    ),
    (
        "amp",
        "amp-handmade-error-result.jsonl",
        1,
        [
            Started(provider="amp", session_id="T-6a3f9b2d-1e4c-4d7f-8b80-2c3d4e5f6071"),
            Message(text="Working"),
            Usage(input_tokens=50, output_tokens=2, cached_input_tokens=0),
            Failed(kind="crashed", message="amp: Thread exceeded the context window", exit_code=1),
        ],
    ),
]


@pytest.mark.parametrize(
    ("provider", "name", "exit_code", "expected"),
    GOLDENS,
    ids=[name.removesuffix(".jsonl") for _, name, _, _ in GOLDENS],
)
def test_recorded_run_decodes_to_exactly_these_events(
    provider: str, name: str, exit_code: int | None, expected: list[SessionEvent]
) -> None:
    assert run(provider, recorded(name), exit_code) == expected


def test_every_golden_file_has_a_test() -> None:
    from tests.contracts.providers.test_real_finish_lines import FILES

    tested = {name for _, name, _, _ in GOLDENS} | set(FILES)
    assert {path.name for path in GOLDEN.glob("*.jsonl")} == tested
