"""Hypothesis strategies for the eight ``bus.inference.*`` payloads.

``valid_payloads(name)`` draws payloads (plain JSON-ready dicts) that satisfy every
rule of BUS.md §1; ``invalid_payloads(name)`` draws :class:`InvalidExample` values,
each a valid payload mutated to break exactly one rule, labelled with that rule.
Point them at any implementation: a valid payload must be accepted, an invalid one
refused with ``bad_request``.

    from hypothesis import given
    from contracts.testing.inference import invalid_payloads

    @given(invalid_payloads("bus.inference.model.ensure.request"))
    def test_refuses(example):
        assert my_validator(example.event, example.payload) == "bad_request", example.rule
"""

from contracts.testing._inference_invalid import (
    InvalidExample,
    bad_listen_hosts,
    invalid_examples_of,
    invalid_payloads,
)
from contracts.testing._inference_valid import (
    credentials,
    hostnames,
    listens,
    models,
    node_ids,
    policies,
    runtimes,
    secret_refs,
    valid_payloads,
)

__all__ = [
    "InvalidExample",
    "bad_listen_hosts",
    "credentials",
    "hostnames",
    "invalid_examples_of",
    "invalid_payloads",
    "listens",
    "models",
    "node_ids",
    "policies",
    "runtimes",
    "secret_refs",
    "valid_payloads",
]
