"""Who may do what on the Bus Events API (BUS.md §2.3), how refusals look, and what is
open to anyone: bearer tokens, tampered tokens, scopes, the error envelope,
capabilities and health.

Rules over a small finite set of examples ask for about twice its size: Hypothesis
stops once the set is exhausted, so a full budget costs nothing more, and a halved one
(``Budget(scale=0.5)``) still tries every example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from hypothesis import strategies as st

from contracts.events import Action
from contracts.inference import EVENT_NAMES
from contracts.testing import AUTH_ROUTES, BAD_AUTHORIZATIONS, TAMPERINGS
from transport.conformance._events_publish_rules import oversized
from transport.conformance._events_target import EventsTarget, bus_error, envelope_problem
from transport.conformance._events_tokens import TokenGrant, secret_parts, tampered
from transport.conformance._harness import Rule, Violation
from transport.conformance._http import Answer

__all__ = ["access_rules", "scope_probes"]

#: Where the scope rule publishes and listens: a name under each protected namespace
#: (none of the eight inference events) and an ordinary one; ``{run}`` is filled in.
SCOPE_TARGETS: Final = (
    "bus.inference.install.conformance-{run}",
    "bus.inference.model.ensure.conformance-{run}",
    "bus.inference.status.conformance-{run}",
    "bus.inference.verify.conformance-{run}",
    "conformance.{run}.scoped",
)
#: Prefixes that need every scope of the names below them (listened to with since=0).
SCOPE_PREFIXES: Final = ("bus.inference.*", "bus.inference.status.*", "bus.*")


def _request(target: EventsTarget, route: str, headers: dict[str, str]) -> Answer:
    """A request to ``route`` that is right in all but (maybe) its ``headers``."""
    name = f"{target.namespace()}.auth"
    match route:
        case "publish":
            return target.publish({"name": name, "payload": 1}, headers=headers)
        case "batch":
            return target.publish_batch([{"name": name, "payload": 1}], headers=headers)
        case "stream":
            return target.listen({"name": name, "since": "0"}, headers=headers)
        case _:
            # A group no one else has: a server that wrongly took it acks nothing real.
            unique = target.unique("conformance")
            ack = {"group": unique, "consumer": unique, "id": "1"}
            return target.post("/ack", ack, headers=headers)


def _bearer_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: tuple[str | None, str]) -> None:
        authorization, route = example
        headers = {}
        if authorization is not None:
            token = target.grants[0].token if target.grants else "no-token"
            headers["authorization"] = authorization.replace("<token>", token)
        bus_error(_request(target, route, headers), 401)

    return Rule(
        "auth.bearer_required",
        "a request without a usable Authorization: Bearer <jwt> is answered 401 invalid_auth",
        st.tuples(st.sampled_from(BAD_AUTHORIZATIONS), st.sampled_from(AUTH_ROUTES)),
        check,
        max_examples=72,
    )


def _tampered_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: tuple[str, str]) -> None:
        how, route = example
        spoiled = tampered(target.user.token, how)
        target.hide(spoiled, *secret_parts(spoiled))
        bus_error(_request(target, route, {"authorization": f"Bearer {spoiled}"}), 401)

    return Rule(
        "auth.tampered_token_is_401",
        "a token with its signature or claims altered, alg none, or another key is 401",
        st.tuples(st.sampled_from(TAMPERINGS), st.sampled_from(["publish", "stream"])),
        check,
        max_examples=32,
        precondition=target.needs_user,
    )


@dataclass(frozen=True)
class ScopeProbe:
    """Token ``grant`` must be refused 403 to ``action`` ``name``."""

    grant: TokenGrant
    name: str
    action: Action

    def __repr__(self) -> str:
        return f"{self.action} {self.name} with the token ({self.grant.describe()})"


def scope_probes(target: EventsTarget) -> list[ScopeProbe]:
    """Every (token, name, action) the contract refuses, for the tokens given."""
    names = [template.format(run=target.run) for template in SCOPE_TARGETS]
    actions: tuple[Action, ...] = ("publish", "listen")
    probes = [(name, action) for name in names for action in actions]
    probes += [(prefix, actions[1]) for prefix in SCOPE_PREFIXES]
    return [
        ScopeProbe(grant, name, action)
        for grant in target.grants
        for name, action in probes
        if not grant.may(name, action)
    ]


def _attempt(target: EventsTarget, grant: TokenGrant, name: str, action: Action) -> Answer:
    if action == "publish":
        return target.publish({"name": name, "payload": {}}, token=grant.token)
    return target.listen({"name": name, "since": "0"}, token=grant.token)


def _scope_rule(target: EventsTarget) -> Rule[Any]:
    def precondition() -> str | None:
        if scope_probes(target):
            return None
        return (
            "no token in the file lacks a scope; add a narrower one"
            " (e.g. scope 'events:send events:listen') to check the 403s"
        )

    def check(probe: ScopeProbe) -> None:
        bus_error(_attempt(target, probe.grant, probe.name, probe.action), 403)
        allowed = next((g for g in target.grants if g.may(probe.name, probe.action)), None)
        if allowed is None:
            return
        answer = _attempt(target, allowed, probe.name, probe.action)
        if answer.status != (202 if probe.action == "publish" else 200):
            raise Violation(
                f"the same request with a token holding the scope ({allowed.describe()})"
                f" is not allowed: {answer.excerpt()}"
            )

    return Rule(
        "scope.missing_scope_is_403",
        "publishing or listening without the scope the name needs is 403 forbidden; with"
        " it, allowed",
        st.deferred(lambda: st.sampled_from(scope_probes(target))),
        check,
        max_examples=60,
        precondition=precondition,
    )


def _error_requests(target: EventsTarget) -> dict[str, tuple[int, Callable[[], Answer]]]:
    """Requests each answered with one kind of error, and the status it must have."""
    bearer = {"authorization": "Bearer not-a-jwt"}
    requests: dict[str, tuple[int, Callable[[], Answer]]] = {
        "invalid envelope": (400, lambda: target.publish({"name": "Not A Name"})),
        "stream without name": (400, lambda: target.listen({})),
        "no token": (401, lambda: _request(target, "publish", {})),
        "malformed token": (401, lambda: _request(target, "stream", bearer)),
        "over 1 MiB": (413, lambda: target.publish(oversized(f"{target.namespace()}.big", 1))),
    }
    probes = scope_probes(target)
    if probes:
        probe = probes[0]
        requests["missing scope"] = (
            403,
            lambda: _attempt(target, probe.grant, probe.name, probe.action),
        )
    return requests


def _errors_rule(target: EventsTarget) -> Rule[Any]:
    def check(kind: str) -> None:
        status, send = _error_requests(target)[kind]
        answer = send()
        answer.expect(status)
        problem = envelope_problem(answer)
        if problem is not None:
            raise Violation(f"{problem}: {answer.excerpt()}")

    return Rule(
        "errors.bus_envelope",
        'every error body is exactly {"error":{"type","message"}}, application/json, the type'
        " its status has (400 bad_request, 401 invalid_auth, 403 forbidden, 413 too_large)",
        st.deferred(lambda: st.sampled_from(sorted(_error_requests(target)))),
        check,
        max_examples=12,
        precondition=target.needs_user,
    )


def _words(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*map(_words, value.values()))
    if isinstance(value, list):
        return set().union(*map(_words, value))
    return {value} if isinstance(value, str) else set()


def _capabilities_rule(target: EventsTarget) -> Rule[Any]:
    def check(_: None) -> None:
        answer = target.get_open("/api/v1/events/capabilities")
        answer.expect(200)
        named = _words(answer.json_object())
        missing = sorted({"broadcast", "unicast", *EVENT_NAMES} - named)
        if missing:
            raise Violation(f"the capabilities do not name {missing}: {answer.excerpt()}")

    return Rule(
        "capabilities.open_without_auth",
        "GET /api/v1/events/capabilities without a token is a 200 JSON object naming the"
        " delivery modes and the inference events",
        st.none(),
        check,
        max_examples=1,
    )


def _health_rule(target: EventsTarget) -> Rule[Any]:
    def check(_: None) -> None:
        target.get_open("/healthz").expect(200)

    return Rule(
        "health.healthz_open_without_auth",
        "GET /healthz without a token is a 200",
        st.none(),
        check,
        max_examples=1,
    )


def access_rules(target: EventsTarget) -> list[Rule[Any]]:
    return [
        _bearer_rule(target),
        _tampered_rule(target),
        _scope_rule(target),
        _errors_rule(target),
        _capabilities_rule(target),
        _health_rule(target),
    ]
