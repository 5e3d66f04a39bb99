"""Run one contract rule as a Hypothesis property against a live implementation.

A :class:`Rule` pairs a strategy of examples with a check that talks to the target and
raises :class:`Violation` when the answer breaks the rule. :func:`run_rule` drives it
with Hypothesis and turns what happened into an :class:`Outcome` (examples tried,
pass/fail/skip, the first — shrunk — counterexample)::

    rule = Rule("models.unknown_model_is_404", "…", st.text(min_size=1), check)
    outcome = run_rule(rule, Budget(examples=20))
    assert outcome.status == "pass", outcome.message

Every call is an HTTP request, maybe a whole completion, so shrinking is bounded: past
the budget's call limit only examples already seen to fail are replayed (failing again),
and any other example passes untried, which ends the shrink with the smallest failure
found so far instead of an endless walk.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import msgspec
from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning

__all__ = [
    "MAX_SHOWN_CHARS",
    "REDACTED",
    "Budget",
    "Outcome",
    "Rule",
    "Status",
    "Violation",
    "redact",
    "run_rule",
    "run_rules",
    "shown",
]

T = TypeVar("T")

Status = Literal["pass", "fail", "skip"]

MAX_SHOWN_CHARS = 400
REDACTED = "<token>"


class Violation(AssertionError):
    """The target's answer breaks the rule; the message says how, briefly."""


@dataclass(frozen=True)
class Rule(Generic[T]):
    """One contract rule: examples to try, and the check each must pass.

    ``precondition`` returns why the rule cannot run against this target (it is then
    skipped, saying so), or None. ``max_examples`` is scaled by the budget.
    """

    name: str
    summary: str
    examples: st.SearchStrategy[T]
    check: Callable[[T], None]
    max_examples: int = 20
    precondition: Callable[[], str | None] | None = None


class Outcome(msgspec.Struct, frozen=True):
    """What running one rule showed: the row of the conformance table."""

    rule: str
    tried: int
    status: Status
    counterexample: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class Budget:
    """How hard to try: ``examples`` scales each rule's own count (1.0 = as written).

    ``seed`` None derandomizes (the same examples every run); an integer picks another
    reproducible sample.
    """

    scale: float = 1.0
    seed: int | None = None
    secrets: tuple[str, ...] = ()

    def examples_for(self, rule: Rule[Any]) -> int:
        return max(1, round(rule.max_examples * self.scale))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each secret (a bearer token) replaced by ``<token>``, longest first."""
    for value in sorted(set(secrets), key=len, reverse=True):
        if value:
            text = text.replace(value, REDACTED)
    return text


def shown(value: object, secrets: Iterable[str] = ()) -> str:
    """A short, redacted rendering of an example or a message for the table."""
    text = value if isinstance(value, str) else repr(value)
    text = redact(text, secrets)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + f"… ({len(text)} chars)"
    return text


def _described(error: BaseException) -> str:
    if isinstance(error, Violation):
        return str(error)
    return f"{type(error).__name__}: {error}"


def run_rule(rule: Rule[Any], budget: Budget | None = None) -> Outcome:
    """Run ``rule``; never raises for what the target does (that is the outcome)."""
    budget = budget or Budget()
    if rule.precondition is not None and (reason := rule.precondition()) is not None:
        return Outcome(rule.name, 0, "skip", message=reason)
    examples = budget.examples_for(rule)
    call_limit = examples * 4 + 10
    tried = 0
    # The exception each failing example raised, re-raised as it was on a replay: the
    # same object keeps the same origin, so Hypothesis sees the same bug and shrinks on.
    failures: dict[str, Exception] = {}
    last_failure: list[tuple[str, str]] = []

    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        derandomize=budget.seed is None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate, Phase.shrink),
        verbosity=Verbosity.quiet,
        print_blob=False,
        report_multiple_bugs=False,
    )
    @given(rule.examples)
    def attempt(example: Any) -> None:
        nonlocal tried
        key = repr(example)
        if key in failures:
            last_failure.append((key, _described(failures[key])))
            raise failures[key]
        if tried >= call_limit and failures:
            return  # the budget is spent: keep the smallest failure found so far
        tried += 1
        try:
            rule.check(example)
        except Exception as error:
            failures[key] = error
            last_failure.append((key, _described(error)))
            raise

    if budget.seed is not None:
        attempt = hypothesis_seed(budget.seed)(attempt)
    try:
        with warnings.catch_warnings():
            # A 1 MiB body is a fine example; its repr is shortened for the table anyway.
            warnings.filterwarnings("ignore", "Generating overly large repr", HypothesisWarning)
            attempt()
    except Exception as error:
        example, message = last_failure[-1] if last_failure else ("", _described(error))
        return Outcome(
            rule.name,
            tried,
            "fail",
            counterexample=shown(example, budget.secrets),
            message=shown(message, budget.secrets),
        )
    return Outcome(rule.name, tried, "pass")


def run_rules(rules: Iterable[Rule[Any]], budget: Budget | None = None) -> list[Outcome]:
    """Run every rule in order; one outcome each."""
    return [run_rule(rule, budget) for rule in rules]
