"""``check_events`` passes our Events API and fails each planted bug, naming its rule.

The app is the real one (``create_events_app`` over a memory log) served by real
hypercorn on loopback; a planted bug is that same app behind one rewrite
(:mod:`tests.fakes.planted_events`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.fakes.planted_bugs import PlantedBug
from tests.fakes.planted_events import events_bugs
from tests.transport.events.served_events import ALL_SCOPES, SECRET, serve_asgi, token
from transport.conformance import check_events, read_token_file
from transport.conformance._harness import Budget, Outcome
from transport.event_log import open_memory_log
from transport.events import TokenVerifier, create_events_app

FULL = token(ALL_SCOPES, subject="conformance-admin")
NARROW = token("events:send events:listen", subject="conformance-user")
BUG_NAMES = sorted(events_bugs(SECRET))
PLANTED_BUDGET = Budget(scale=0.5)


async def _check(bug: str | None, tokens: Sequence[str], budget: Budget) -> list[Outcome]:
    async with open_memory_log() as log, trio.open_nursery() as nursery:
        app: Any = create_events_app(log, TokenVerifier(SECRET), keepalive_seconds=5)
        if bug is not None:
            planted = events_bugs(SECRET)[bug]
            app = PlantedBug(app, planted.name, **planted.rewrites)
        origin, server = await serve_asgi(nursery, app)
        try:
            return await trio.to_thread.run_sync(check_events, origin, tokens, budget)
        finally:
            server.cancel()


def _not_passed(outcomes: list[Outcome]) -> dict[str, tuple[str, str | None, str | None]]:
    return {o.rule: (o.status, o.counterexample, o.message) for o in outcomes if o.status != "pass"}


def _shows_no_token(outcomes: list[Outcome]) -> bool:
    """Neither token, nor its signature, nor its claims' first 24 characters (an
    excerpt cut short in the middle of an echoed token would show those)."""
    text = repr(outcomes)
    parts = [(t, t.split(".")[1][:24], t.split(".")[2]) for t in (FULL, NARROW)]
    return all(part not in text for three in parts for part in three)


async def test_our_events_app_passes_every_rule_with_a_full_and_a_narrow_token() -> None:
    outcomes = await _check(None, [FULL, NARROW], Budget())
    assert _not_passed(outcomes) == {}
    assert len(outcomes) >= 18
    assert all(outcome.tried >= 1 for outcome in outcomes)
    assert _shows_no_token(outcomes)


async def test_the_403_rule_skips_saying_why_when_no_token_lacks_a_scope() -> None:
    outcomes = await _check(None, [FULL], Budget(scale=0.2))
    by_rule = {outcome.rule: outcome for outcome in outcomes}
    skipped = by_rule["scope.missing_scope_is_403"]
    assert skipped.status == "skip"
    assert skipped.message is not None and "narrower" in skipped.message
    assert {o.rule for o in outcomes if o.status != "pass"} == {"scope.missing_scope_is_403"}


async def test_rules_that_publish_skip_without_a_token_that_may_send_and_listen() -> None:
    reader = token("inference:read", subject="reader")
    outcomes = await _check(None, [reader], Budget(scale=0.2))
    by_rule = {outcome.rule: outcome for outcome in outcomes}
    assert by_rule["publish.receipt"].status == "skip"
    assert "events:send" in (by_rule["publish.receipt"].message or "")
    assert by_rule["auth.bearer_required"].status == "pass"
    assert by_rule["capabilities.open_without_auth"].status == "pass"


@pytest.mark.parametrize("bug", BUG_NAMES)
async def test_each_planted_events_bug_fails_exactly_the_rules_it_breaks(bug: str) -> None:
    outcomes = await _check(bug, [FULL, NARROW], PLANTED_BUDGET)
    failed = {o.rule: o for o in outcomes if o.status == "fail"}
    assert set(failed) == events_bugs(SECRET)[bug].breaks, _not_passed(outcomes)
    for outcome in failed.values():
        assert outcome.counterexample is not None
        assert outcome.message
    assert not [o for o in outcomes if o.status == "skip"]


async def test_no_token_text_appears_in_any_outcome_even_when_the_server_echoes_it() -> None:
    outcomes = await _check("errors_as_plain_text", [FULL, NARROW], PLANTED_BUDGET)
    echoed = [o for o in outcomes if o.message is not None and "Authorization: Bearer" in o.message]
    assert echoed, "the double should have echoed a bearer header into some message"
    assert _shows_no_token(outcomes)
    assert any("<token>" in (o.message or "") for o in echoed)


def test_read_token_file_takes_one_token_a_line_with_comments_and_blanks(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text(f"# the admin\n{FULL}\n\n  {NARROW}  # events only\n")
    assert read_token_file(path) == [FULL, NARROW]


@pytest.mark.parametrize(
    ("content", "said"),
    [
        ("", "holds no token"),
        ("# only a comment\n\n", "holds no token"),
        ("not-a-jwt\n", "line 1: not a JWT"),
        (f"{FULL}\n{FULL} {NARROW}\n", "line 2: one token per line"),
        (f"{FULL}\neyJhbGciOiJIUzI1NiJ9.e30.c2ln\n", "line 2: the token has no sub claim"),
    ],
)
def test_read_token_file_refuses_what_is_not_one_jwt_a_line(
    tmp_path: Path, content: str, said: str
) -> None:
    path = tmp_path / "tokens"
    path.write_text(content)
    with pytest.raises(ValueError, match=said) as raised:
        read_token_file(path)
    assert FULL not in str(raised.value)


def test_read_token_file_names_a_file_it_cannot_read(tmp_path: Path) -> None:
    missing = tmp_path / "absent"
    with pytest.raises(ValueError, match="cannot read the token file"):
        read_token_file(missing)


def test_check_events_refuses_a_token_that_is_not_a_jwt_without_showing_it() -> None:
    with pytest.raises(ValueError, match="token 2: not a JWT") as raised:
        check_events("http://127.0.0.1:9", [FULL, "secret-but-not-a-jwt"])
    assert "secret-but-not-a-jwt" not in str(raised.value)
