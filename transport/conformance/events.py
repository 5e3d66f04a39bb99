"""The Bus Events API contract (BUS.md §2) as rules ``asm conformance events`` runs.

Point it at any Bus Events API with one or more tokens and read the table::

    tokens = read_token_file(Path("tokens.txt"))   # one JWT per line
    outcomes = check_events("http://127.0.0.1:8787", tokens)
    print(render_table(outcomes))

The harness cannot verify tokens (it has no secret): it reads each token's ``sub`` and
``scope`` unverified and asks :func:`contracts.events.authorize` what the contract lets
it do. Give a token with ``events:send events:listen`` (most rules publish and listen
with it) and, to check the 403s, one that lacks a scope another has.

It is safe against a production server: everything it publishes is under
``conformance.<run>.…`` or ``bus.inference.<namespace>.conformance-<run>``, never one of
the eight inference events, so nothing is installed or ensured; every stream it opens
has ``follow=false``; no token ever appears in an outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import httpx

from transport.conformance._events_access_rules import access_rules
from transport.conformance._events_listen_rules import listen_rules
from transport.conformance._events_publish_rules import publish_rules
from transport.conformance._events_target import EventsTarget
from transport.conformance._events_tokens import TokenGrant, read_token_file, secret_parts
from transport.conformance._harness import Budget, Outcome, Rule, run_rules
from transport.conformance._http import open_client

__all__ = [
    "EventsTarget",
    "TokenGrant",
    "check_events",
    "events_rules",
    "events_target",
    "hidden_parts",
    "read_token_file",
]


def events_rules(target: EventsTarget) -> list[Rule[Any]]:
    """Every rule of the Events API, in the order of the table."""
    return [*publish_rules(target), *listen_rules(target), *access_rules(target)]


def events_target(base_url: str, tokens: Sequence[str], http: httpx.Client) -> EventsTarget:
    """The target for ``events_rules``: ``base_url`` (the origin, a trailing
    ``/api/v1/events`` dropped) and ``tokens``.

    Raises ValueError when a token is not a JWT with a ``sub`` claim (naming it by its
    position, never its text).
    """
    grants = []
    for number, token in enumerate(tokens, start=1):
        try:
            grants.append(TokenGrant.of(token))
        except ValueError as error:
            raise ValueError(f"token {number}: {error}") from None
    origin = base_url.rstrip("/").removesuffix("/api/v1/events")
    return EventsTarget(origin, tuple(grants), http)


def hidden_parts(tokens: Sequence[str]) -> tuple[str, ...]:
    """What of ``tokens`` an outcome must never show (each token and its signature)."""
    return tuple(part for token in tokens for part in secret_parts(token))


def check_events(
    base_url: str,
    tokens: Sequence[str],
    budget: Budget | None = None,
    *,
    timeout: float = 30.0,
) -> list[Outcome]:
    """Run every Events API rule against ``base_url`` (the origin, without
    ``/api/v1/events``) with ``tokens``; one outcome per rule.

    Raises ValueError when a token is not a JWT with a ``sub`` claim.
    """
    budget = budget or Budget()
    budget = dataclasses.replace(budget, secrets=(*budget.secrets, *hidden_parts(tokens)))
    with open_client(timeout) as http:
        return run_rules(events_rules(events_target(base_url, tokens, http)), budget)
