"""The conformance suite for pytest: one test per rule of each contract.

    pytest --pyargs transport.conformance.suite --conformance-endpoint URL --conformance-token T

The rules come from :mod:`transport.conformance_plugin` (loaded with asm-trio);
without the options each test is skipped, saying which option to give.
"""

from __future__ import annotations

from typing import Any

from transport.conformance._harness import Budget, Rule
from transport.conformance_plugin import check_rule

__all__ = ["test_endpoint_rule", "test_events_rule"]


def test_endpoint_rule(endpoint_rule: tuple[Rule[Any], Budget]) -> None:
    """One endpoint rule (SPEC §3) holds for the target."""
    check_rule(endpoint_rule)


def test_events_rule(events_rule: tuple[Rule[Any], Budget]) -> None:
    """One Bus Events API rule (BUS.md §2) holds for the target."""
    check_rule(events_rule)
