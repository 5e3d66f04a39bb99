"""The listen rules of the Bus Events API (BUS.md §2.2): what a ``follow=false`` stream
gives back of what was published, from where, filtered how, delivered to whom."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from contracts.testing import (
    BadListenQuery,
    CorrelationExample,
    CursorExample,
    PrefixExample,
    UnicastExample,
    bad_listen_queries,
    correlation_examples,
    cursor_examples,
    envelopes,
    prefix_examples,
    unicast_examples,
)
from transport.conformance._events_publish_rules import under
from transport.conformance._events_target import (
    RECENT,
    EventsTarget,
    bus_error,
    canonical,
    sent_correlation,
)
from transport.conformance._harness import Rule, Violation

__all__ = ["listen_rules"]

#: Pairs of listens that name no ``delivery`` (so both must be broadcast).
DEFAULT_DELIVERY_LISTENS: tuple[tuple[dict[str, str], dict[str, str]], ...] = (
    ({}, {}),
    ({"consumer": "first"}, {"consumer": "second"}),
    ({"group": "shared"}, {"group": "shared", "consumer": "other"}),
)


def _ids(events: list[dict[str, Any]]) -> list[Any]:
    return [event.get("id") for event in events]


def _names(events: list[dict[str, Any]]) -> list[Any]:
    return [event.get("name") for event in events]


def _replay_rule(target: EventsTarget) -> Rule[Any]:
    def check(envelope: dict[str, Any]) -> None:
        sent = under(target.namespace(), envelope)
        event_id = target.published_id(sent)
        stored = target.events({"name": sent["name"], "replay": "true"})
        if _ids(stored) != [event_id]:
            raise Violation(f"replay gave ids {_ids(stored)}, not the one published, {event_id!r}")
        [event] = stored
        if event.get("name") != sent["name"]:
            raise Violation(f"name {event.get('name')!r} is not the one sent")
        if "payload" not in event or canonical(event["payload"]) != canonical(sent["payload"]):
            raise Violation(f"payload {event.get('payload')!r} is not the one sent")
        correlation = sent_correlation(sent)
        for key in ("correlation_id", "correlationId"):
            if correlation is not None and key not in event:
                raise Violation(f"the event has no {key} (both spellings are emitted)")
            if event.get(key) != correlation:
                raise Violation(f"{key} is {event.get(key)!r}, not the one sent, {correlation!r}")
        if "metadata" in sent and canonical(event.get("metadata")) != canonical(sent["metadata"]):
            raise Violation(f"metadata {event.get('metadata')!r} is not the one sent")

    return Rule(
        "listen.replay_returns_what_was_published",
        "replay gives back the event as published: id, name, payload, metadata, and the"
        " correlation id under both correlation_id and correlationId",
        envelopes(),
        check,
        max_examples=25,
        precondition=target.needs_user,
    )


def _after_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: CursorExample) -> None:
        namespace = target.namespace()
        ids = [
            target.published_id({"name": f"{namespace}.e{n}", "payload": n})
            for n in range(example.count)
        ]
        cursor = ids[example.index]
        if example.via == "after":
            stored = target.events({"name": f"{namespace}.*", "after": cursor})
        else:
            headers = {"last-event-id": cursor} | {"authorization": f"Bearer {target.user.token}"}
            stored = target.events({"name": f"{namespace}.*"}, headers=headers)
        wanted = ids[example.index + 1 :]
        if _ids(stored) != wanted:
            raise Violation(
                f"after event #{example.index + 1} of {example.count} (by {example.via}) the"
                f" stream gave ids {_ids(stored)}, not {wanted}"
            )

    return Rule(
        "listen.after_resumes_after_the_cursor",
        "after=<id> (or Last-Event-ID) gives exactly the later events, in order",
        cursor_examples(),
        check,
        max_examples=15,
        precondition=target.needs_user,
    )


def _prefix_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: PrefixExample) -> None:
        namespace = target.namespace()
        for relative, _ in example.names:
            target.published_id({"name": f"{namespace}.{relative}", "payload": relative})
        wanted = [f"{namespace}.{relative}" for relative, below in example.names if below]
        stored = target.events({"name": f"{namespace}.{example.prefix}", "since": RECENT})
        if _names(stored) != wanted:
            raise Violation(f"{example.prefix} selected {_names(stored)}, not {wanted}")

    return Rule(
        "listen.prefix_matches_names_below_it",
        "name=a.b.* selects exactly the names below a.b (not a.b itself, nor a.bc), in order",
        prefix_examples(),
        check,
        max_examples=25,
        precondition=target.needs_user,
    )


def _correlation_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: CorrelationExample) -> None:
        namespace = target.namespace()
        wanted = []
        for n, (index, spelling) in enumerate(example.tagged):
            body: dict[str, Any] = {"name": f"{namespace}.e{n}", "payload": n}
            if index is not None:
                keys = ("correlation_id", "correlationId") if spelling == "both" else (spelling,)
                body |= dict.fromkeys(keys, example.ids[index])
            target.published_id(body)
            if index == 0:
                wanted.append(body["name"])
        params = {"name": f"{namespace}.*", "since": RECENT, "correlation_id": example.ids[0]}
        stored = target.events(params)
        if _names(stored) != wanted:
            raise Violation(
                f"correlation_id={example.ids[0]!r} selected {_names(stored)}, not {wanted}"
            )

    return Rule(
        "listen.correlation_id_filters",
        "correlation_id=<id> selects exactly the events published with that id",
        correlation_examples(),
        check,
        max_examples=20,
        precondition=target.needs_user,
    )


def _default_delivery_rule(target: EventsTarget) -> Rule[Any]:
    def check(listens: tuple[dict[str, str], dict[str, str]]) -> None:
        name = f"{target.namespace()}.e"
        event_id = target.published_id({"name": name, "payload": "both"})
        for number, params in enumerate(listens, start=1):
            stored = target.events({"name": name} | params)
            if _ids(stored) != [event_id]:
                raise Violation(
                    f"listen {number} of 2 without delivery ({params or 'no other parameter'})"
                    f" gave ids {_ids(stored)}, not [{event_id!r}]: not broadcast"
                )

    return Rule(
        "listen.delivery_defaults_to_broadcast",
        "without delivery, every listener gets every matching event (broadcast)",
        st.sampled_from(DEFAULT_DELIVERY_LISTENS),
        check,
        max_examples=6,
        precondition=target.needs_user,
    )


def _unicast_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: UnicastExample) -> None:
        name = f"{target.namespace()}.job"
        event_id = target.published_id({"name": name, "payload": "once"})
        # replay: a new group starts at the oldest event; an existing one at its cursor.
        listens = [
            (example.group, example.first, [event_id]),
            (example.group, example.second, []),
            (example.other, example.first, [event_id]),
        ]
        for group, consumer, wanted in listens:
            params = {"name": name, "delivery": "unicast", "replay": "true"}
            stored = target.events(params | {"group": group, "consumer": consumer})
            if _ids(stored) != wanted:
                raise Violation(
                    f"unicast group {group!r} consumer {consumer!r} got ids {_ids(stored)},"
                    f" not {wanted}"
                )

    return Rule(
        "listen.unicast_group_gets_one_copy",
        "unicast: one consumer of a group gets the event, the next one of that group does"
        " not, another group gets its own copy",
        unicast_examples(),
        check,
        max_examples=8,
        precondition=target.needs_user,
    )


def _bad_query_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: BadListenQuery) -> None:
        params = dict(example.params)
        if example.relative_name:
            params["name"] = f"{target.namespace()}.{params['name']}"
        bus_error(target.listen(params), 400)

    return Rule(
        "listen.bad_query_is_400",
        "a missing or malformed name, an unknown delivery, a since that is not seconds ≥ 0"
        " is answered 400 bad_request before any stream",
        bad_listen_queries(),
        check,
        max_examples=30,
        precondition=target.needs_user,
    )


def listen_rules(target: EventsTarget) -> list[Rule[Any]]:
    return [
        _replay_rule(target),
        _after_rule(target),
        _prefix_rule(target),
        _correlation_rule(target),
        _default_delivery_rule(target),
        _unicast_rule(target),
        _bad_query_rule(target),
    ]
