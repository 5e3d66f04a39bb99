"""The rules ensure checks before a lease starts, one property test each (issue 15).

The model id goes on the CLI's command line, so it is printable text without whitespace,
1-200 characters, not starting with ``-``; a lease's TTL or idle timeout asked in the
context is a positive finite number of seconds. Each refusal says which field, and
never quotes a value it refuses.
"""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from contracts.endpoint_refusal import (
    LEASE_SECONDS_FIELDS,
    MODEL_ID_MAX_CHARS,
    lease_seconds_problem,
    model_id_problem,
    not_installed_problem,
)
from contracts.providers import PROFILES

_printable = st.characters(exclude_categories=["C", "Z"])  # no control, no separator
good_model_ids = st.text(_printable, min_size=1, max_size=MODEL_ID_MAX_CHARS).filter(
    lambda model: not model.startswith("-")
)
_unprintable = st.one_of(
    st.sampled_from(["\x00", "\n", "\r", "\t", " ", "\x1b", "\x7f", "\u2028", "\u00a0"]),
    st.characters(categories=["Cc", "Zs", "Zl", "Zp"]),
)
bad_model_ids = st.one_of(
    st.builds(lambda a, bad, b: a + bad + b, good_model_ids, _unprintable, st.text(_printable)),
    st.text(_printable, min_size=MODEL_ID_MAX_CHARS + 1, max_size=MODEL_ID_MAX_CHARS + 50),
    good_model_ids.map(lambda model: "-" + model[: MODEL_ID_MAX_CHARS - 1]),
)


@given(bad_model_ids)
def test_rule_model_id_is_printable_bounded_and_no_option(model: str) -> None:
    """Rule: a model id is 1-200 printable characters without whitespace (so no NUL),
    not starting with '-'."""
    problem = model_id_problem(model)
    assert problem is not None, repr(model)
    assert problem.startswith("model_preference.id ")
    assert len(model) < 8 or model not in problem  # never quoted back


@given(good_model_ids)
def test_model_ids_the_rule_allows_are_accepted(model: str) -> None:
    assert model_id_problem(model) is None


_bad_seconds = st.one_of(
    st.integers(max_value=0),
    st.floats(max_value=0.0),
    st.sampled_from([math.inf, -math.inf, math.nan, True, False]),
    st.text(max_size=8),
    st.lists(st.integers(1, 9), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=1),
)


@given(st.sampled_from(LEASE_SECONDS_FIELDS), _bad_seconds)
def test_rule_lease_timeouts_are_positive_numbers(field: str, value: object) -> None:
    """Rule: context.lease_ttl_seconds and context.lease_idle_seconds, when given, are
    finite numbers of seconds above 0: -1, 0 and "10" are refused, naming the field."""
    problem = lease_seconds_problem(field, value)
    assert problem is not None, repr(value)
    assert problem.startswith(f"context.{field} must be a positive number of seconds")
    if isinstance(value, str) and value:
        assert repr(value) not in problem  # the caller's text is not quoted back


@given(
    st.sampled_from(LEASE_SECONDS_FIELDS),
    st.one_of(st.none(), st.integers(1, 10**9), st.floats(min_value=1e-3, max_value=1e9)),
)
def test_lease_timeouts_the_rule_allows_are_accepted(field: str, value: object) -> None:
    assert lease_seconds_problem(field, value) is None


@given(st.sampled_from(sorted(PROFILES)), st.sampled_from(["", "/opt/none/bin/cli"]))
def test_rule_not_installed_names_where_the_executable_is_configured(
    provider_id: str, configured: str
) -> None:
    """Rule: a refusal for a missing CLI names its ASM_<PROVIDER>_BIN variable and its
    ``[providers.<id>].executable`` key, and what was looked for."""
    provider = PROFILES[provider_id]
    executable = configured or provider.executable
    problem = not_installed_problem(provider, executable)
    assert problem.startswith(f"the {provider_id} CLI is not installed")
    assert provider.bin_env in problem
    assert f"[providers.{provider_id}].executable" in problem
    assert repr(executable) in problem
    assert ("not on PATH" in problem) is (not configured)
