"""One log line per period for a repeating failure (transport.http.log_limit)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from transport.http import LogLimit


@given(st.lists(st.floats(0, 30), max_size=50))
def test_rule_log_limit_logs_at_most_one_line_per_period_and_counts_the_rest(
    gaps: list[float],
) -> None:
    now = 0.0
    limit = LogLimit(seconds=10.0, clock=lambda: now)
    logged: list[float] = []
    held = total_held = 0
    for gap in gaps:
        now += gap
        skipped = limit.due()
        if skipped is None:
            held += 1
            total_held += 1
        else:
            assert skipped == held  # every line held back since the last one is counted
            held = 0
            assert not logged or now - logged[-1] >= 10.0
            logged.append(now)
    assert len(logged) + total_held == len(gaps)
    assert bool(gaps) == bool(logged)  # the first one is always logged
