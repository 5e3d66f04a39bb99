"""The reconnect rule (transport.http.backoff): exponential, bounded, jittered."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transport.http import Backoff

backoffs = st.builds(
    Backoff,
    initial=st.floats(0.001, 10),
    maximum=st.floats(10, 100),
    factor=st.floats(1, 4),
    jitter=st.floats(0, 0.99),
)


@given(backoffs, st.integers(0, 2**32))
def test_rule_backoff_delays_stay_within_their_jittered_bound(backoff: Backoff, seed: int) -> None:
    delays = backoff.delays(random.Random(seed))
    bound = backoff.initial
    for _ in range(20):
        delay = next(delays)
        assert (1 - backoff.jitter) * min(bound, backoff.maximum) <= delay <= backoff.maximum
        assert delay <= min(bound, backoff.maximum)
        bound *= backoff.factor


def test_jitter_spreads_the_listeners_of_one_outage() -> None:
    first = [next(Backoff(initial=8.0).delays(random.Random(seed))) for seed in range(50)]
    assert len(set(first)) == 50 and min(first) >= 4.0 and max(first) <= 8.0


@pytest.mark.parametrize(
    "arguments", [{"initial": 0}, {"initial": 5, "maximum": 1}, {"factor": 0.5}, {"jitter": 1}]
)
def test_rule_backoff_parameters_are_checked(arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff(**arguments)
