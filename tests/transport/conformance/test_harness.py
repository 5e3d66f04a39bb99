"""The harness core: outcomes, counterexamples, redaction, the table, the SSE reader."""

from __future__ import annotations

import httpx
from hypothesis import strategies as st

from transport.conformance import all_passed, render_table
from transport.conformance._harness import Budget, Outcome, Rule, Violation, run_rule
from transport.conformance._http import Answer


def _never_above_ten(number: int) -> None:
    if number > 10:
        raise Violation(f"{number} is above ten")


def test_a_failing_rule_reports_its_shrunk_counterexample() -> None:
    rule = Rule("numbers.at_most_ten", "…", st.integers(min_value=0), _never_above_ten, 50)
    outcome = run_rule(rule)
    assert (outcome.rule, outcome.status) == ("numbers.at_most_ten", "fail")
    assert outcome.counterexample == "11"
    assert outcome.message == "11 is above ten"
    assert outcome.tried >= 2


def test_a_passing_rule_tries_its_examples_scaled_by_the_budget() -> None:
    rule = Rule("numbers.small", "…", st.integers(0, 10**6), _never_above_ten_million, 40)
    assert run_rule(rule) == Outcome("numbers.small", 40, "pass")
    assert run_rule(rule, Budget(scale=0.25)).tried == 10


def _never_above_ten_million(number: int) -> None:
    if number > 10**7:
        raise Violation("too big")


def test_a_rule_whose_precondition_fails_is_skipped_saying_why() -> None:
    rule = Rule(
        "x.y", "…", st.integers(), _never_above_ten, precondition=lambda: "needs a narrower token"
    )
    assert run_rule(rule) == Outcome("x.y", 0, "skip", message="needs a narrower token")


def test_an_unexpected_error_is_a_failure_naming_its_type() -> None:
    def broken(_: None) -> None:
        raise httpx.ConnectError("refused")

    outcome = run_rule(Rule("x.reachable", "…", st.none(), broken, 1))
    assert outcome.status == "fail"
    assert outcome.message == "ConnectError: refused"


def test_secrets_never_reach_an_outcome() -> None:
    token = "tok-0123456789"

    def leaky(text: str) -> None:
        raise Violation(f"the server echoed Bearer {token}")

    outcome = run_rule(Rule("x.leak", "…", st.just(token), leaky, 1), Budget(secrets=(token,)))
    assert outcome.status == "fail"
    assert token not in repr(outcome)
    assert outcome.counterexample == "'<token>'"


def test_the_table_escapes_cells_and_counts_results() -> None:
    outcomes = [
        Outcome("a.one", 3, "pass"),
        Outcome("a.two", 1, "fail", counterexample="'x|y'", message="line\nbreak"),
        Outcome("a.three", 0, "skip", message="why"),
    ]
    table = render_table(outcomes)
    lines = table.splitlines()
    assert lines[0].startswith("| rule ")
    assert "'x\\|y' → line\\nbreak" in lines[3]
    assert lines[-1] == "1 passed, 1 failed, 1 skipped"
    assert not all_passed(outcomes)
    assert all_passed([outcomes[0], outcomes[2]])


def test_sse_lines_end_only_at_cr_or_lf() -> None:
    """A JSON payload may carry U+0085 or U+2028 raw; neither ends an SSE line."""
    body = 'data: {"t":"a\u0085b\u2028c"}\n\n: keep-alive\n\ndata: [DONE]\n\n'.encode()
    answer = Answer(200, httpx.Headers({"content-type": "text/event-stream"}), body)
    assert answer.sse_data() == ['{"t":"a\u0085b\u2028c"}', "[DONE]"]
