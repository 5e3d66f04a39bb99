"""``asm conformance``: the contracts' rules run as properties against any implementation.

    from transport.conformance import check_endpoint, check_events, render_table

    outcomes = check_endpoint("http://127.0.0.1:8787/leases/L/v1", lease_token)
    print(render_table(outcomes))

Needs Hypothesis (``pip install 'asm-trio[conformance]'``). The same rules run as a
pytest plugin (:mod:`transport.conformance_plugin`, beside this package so that pytest
runs without Hypothesis can load it).
"""

from transport.conformance._harness import Budget, Outcome, Rule, Violation, run_rule, run_rules
from transport.conformance._http import open_client
from transport.conformance.endpoint import EndpointTarget, check_endpoint, endpoint_rules
from transport.conformance.events import (
    EventsTarget,
    TokenGrant,
    check_events,
    events_rules,
    events_target,
    hidden_parts,
    read_token_file,
)
from transport.conformance.table import all_passed, render_table

__all__ = [
    "Budget",
    "EndpointTarget",
    "EventsTarget",
    "Outcome",
    "Rule",
    "TokenGrant",
    "Violation",
    "all_passed",
    "check_endpoint",
    "check_events",
    "endpoint_rules",
    "events_rules",
    "events_target",
    "hidden_parts",
    "open_client",
    "read_token_file",
    "render_table",
    "run_rule",
    "run_rules",
]
