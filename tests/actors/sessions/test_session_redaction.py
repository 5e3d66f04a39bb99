"""A session's secrets never leave it, whatever stream the CLI printed them on (issue 15).

The fake CLIs' ``leak_stdout`` and ``leak_error`` modes print the API key they were
handed on stdout (a line that is not JSON) or inside an error result; neither the
endpoint's 502 body nor any log line may carry it, nor its first characters.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import string
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.sessions import MIN_SECRET, REDACTED, DeltaGuard, Redactor
from actors.system import open_system
from contracts.config import Config, ProviderSettings, SessionSettings
from contracts.session import Failed, TextDelta, Warning
from tests.actors.sessions.sessions import fake_environ, fake_spec, run_once

SHORT_KEY = "sk-ant-api03-LEAKED-0123456789abcdef"
# Longer than a decoder's 80-character excerpt of a line: the excerpt cuts it in half.
LONG_KEY = "sk-proj-LEAKED-" + "0123456789abcdef" * 6
# What a leak would show even when cut: the key's first and last characters.
_SHOWN = 14


def _leaks(text: str, key: str) -> bool:
    return key[:_SHOWN] in text or key[-_SHOWN:] in text


@pytest.mark.parametrize("key", [SHORT_KEY, LONG_KEY])
@pytest.mark.parametrize(
    ("provider", "mode"),
    [("claude", "leak_stdout"), ("claude", "leak_error"), ("codex", "leak_error")],
)
async def test_a_key_the_cli_prints_reaches_neither_the_502_body_nor_the_logs(
    provider: str, mode: str, key: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    environ = {**fake_environ(tmp_path), "ANTHROPIC_API_KEY": key, "CODEX_API_KEY": key}
    config = Config(
        # The fake CLIs' fault modes are spawned runs (workers: test_workers.py).
        providers={provider: ProviderSettings(env={"FAKE_CLI_MODE": mode}, mode="spawn")},
        sessions=SessionSettings(exit_grace=0.3, terminate_grace=0.3),
    )
    with caplog.at_level(logging.DEBUG):
        async with (
            open_system(config, environ=environ) as system,
            httpx.AsyncClient(base_url=str(system.base_url), timeout=30) as http,
        ):
            created = await http.post(
                "/api/v1/endpoints",
                headers={"authorization": f"Bearer {system.admin_token}"},
                json={"request": {"model_preference": {"provider": provider, "id": "m"}}},
            )
            assert created.status_code == 201, created.text
            endpoint = created.json()["endpoint"]
            answer = await http.post(
                f"{endpoint['base_url']}/chat/completions",
                headers=endpoint["headers"],
                json={"messages": [{"role": "user", "content": "Hi"}]},
            )
    assert answer.status_code == 502, answer.text
    assert REDACTED in answer.json()["error"]["message"]  # the leak reached the body, cut
    assert not _leaks(answer.text, key), answer.text
    assert caplog.records
    assert not _leaks(caplog.text, key), caplog.text


@pytest.mark.parametrize("mode", ["leak_stdout", "leak_error"])
async def test_the_session_events_carry_no_key(mode: str, tmp_path: Path) -> None:
    spec = fake_spec("claude", tmp_path, mode=mode)
    spec = dataclasses.replace(spec, env={**spec.env, "ANTHROPIC_API_KEY": LONG_KEY})
    _, events = await run_once(spec, "Hi")
    failed = events[-1]
    assert isinstance(failed, Failed), events
    assert not _leaks(repr(events), LONG_KEY), events
    if mode == "leak_error":  # the fake writes it to stderr as well
        assert failed.stderr_tail is not None and REDACTED in failed.stderr_tail


_secrets = st.text(
    st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="\\"),
    min_size=MIN_SECRET,
    max_size=60,
)
_around = st.text(string.printable, max_size=40)


@given(_secrets, _around, _around)
def test_a_secret_is_cut_out_of_any_text_raw_or_json_escaped(
    secret: str, before: str, after: str
) -> None:
    redactor = Redactor([secret])
    assert secret not in redactor.text(before + secret + after)
    line = f'{{"error":{json.dumps(before + secret + after)}}}'.encode()
    assert secret.encode() not in redactor.line(line)
    assert REDACTED.encode() in redactor.line(line)


@given(_secrets, st.integers(1, 200), _around)
def test_a_tail_cut_inside_a_secret_loses_the_rest_of_it(secret: str, cut: int, rest: str) -> None:
    """A stderr tail may start anywhere, inside a key too: what is left of it goes."""
    remains = secret[min(cut, len(secret) - 4) :]
    assert not Redactor([secret]).tail(remains + " " + rest).startswith(remains)


def test_the_secrets_are_the_auth_variables_and_what_is_named_like_one() -> None:
    env = {
        "PATH": "/usr/local/bin:/usr/bin",
        "HOME": "/home/operator",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9999",
        "MY_SERVICE_TOKEN": "tok-0123456789",
        "AMP_URL": "https://ampcode.example",
        "SHORT_KEY": "abc",
    }
    redactor = Redactor.of(env, ["AMP_URL"])
    text = " ".join(env.values())
    assert redactor.text(text) == (
        f"/usr/local/bin:/usr/bin /home/operator http://127.0.0.1:9999 {REDACTED} {REDACTED} abc"
    )


def test_every_string_field_of_an_event_is_redacted() -> None:
    redactor = Redactor(["sk-0123456789"])
    assert redactor.event(TextDelta(text="key sk-0123456789")) == TextDelta(text=f"key {REDACTED}")
    assert redactor.event(Warning(message="sk-0123456789")) == Warning(message=REDACTED)
    failed = Failed(kind="crashed", message="m sk-0123456789", stderr_tail="sk-0123456789\n")
    assert redactor.event(failed) == Failed(
        kind="crashed", message=f"m {REDACTED}", stderr_tail=f"{REDACTED}\n"
    )


# --- a secret split between streamed deltas ----------------------------------------


@given(_secrets, _around, _around, st.lists(st.integers(0, 200), max_size=8))
def test_rule_a_secret_split_between_deltas_never_leaves(
    secret: str, before: str, after: str, cuts: list[int]
) -> None:
    redactor = Redactor([secret])
    whole = before + secret + after
    bounds = sorted({min(cut, len(whole)) for cut in cuts} | {0, len(whole)})
    guard = DeltaGuard(redactor)
    sent = [guard.feed(whole[a:b]) for a, b in itertools.pairwise(bounds)]
    sent.append(guard.flush())
    assert "".join(sent) == redactor.text(whole)
    assert secret not in "".join(sent)


@given(
    st.text(string.printable.replace("Z", ""), max_size=40),
    st.lists(st.integers(0, 40), max_size=6),
)
def test_rule_text_that_begins_no_secret_is_never_held(text: str, cuts: list[int]) -> None:
    guard = DeltaGuard(Redactor(["Zq9!Zq9!Zq9!"]))  # no text without a Z begins it
    bounds = sorted({min(cut, len(text)) for cut in cuts} | {0, len(text)})
    for a, b in itertools.pairwise(bounds):
        assert guard.feed(text[a:b]) == text[a:b]
    assert guard.flush() == ""


async def test_a_secret_the_answer_streams_across_deltas_is_redacted(tmp_path: Path) -> None:
    """The fake streams its answer a word per delta: a secret with spaces in it (an
    environment password named like one) arrives in three deltas."""
    secret = "open sesame 0123456789"
    spec = fake_spec("claude", tmp_path)
    spec = dataclasses.replace(spec, env={**spec.env, "FAKE_DB_PASSWORD": secret})
    _, events = await run_once(spec, f"the password is {secret} ok")
    streamed = "".join(event.text for event in events if isinstance(event, TextDelta))
    assert sum(isinstance(event, TextDelta) for event in events) > 3
    assert secret not in streamed and "sesame 0123456789" not in streamed
    assert f"the password is {REDACTED} ok" in streamed
