"""The publish rules of the Bus Events API (BUS.md §2.1): receipts, refusals, batches,
and the identity stamped on what is stored."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from contracts.events import MAX_ENVELOPE_BYTES
from contracts.testing import (
    BatchExample,
    InvalidEnvelope,
    batch_examples,
    claimed_identities,
    envelopes,
    invalid_envelopes,
    oversized_extras,
)
from transport.conformance._events_target import (
    RECENT,
    EventsTarget,
    bus_error,
    canonical,
    check_receipt,
)
from transport.conformance._harness import Rule, Violation

__all__ = ["publish_rules", "under", "unstored"]


def under(namespace: str, envelope: dict[str, Any]) -> dict[str, Any]:
    """``envelope`` with its (valid, relative) name put under ``namespace``."""
    return envelope | {"name": f"{namespace}.{envelope['name']}"}


def unstored(target: EventsTarget, namespace: str, example: InvalidEnvelope) -> Any:
    """The body of an invalid envelope, its names kept away from real ones.

    A valid name goes under ``namespace``; the payload-less inference envelope gets a
    ``bus.inference.`` name that is none of the eight (so a server that wrongly took it
    would set nothing off); an invalid name stays as it is (it cannot be stored).
    """
    body = example.body
    if not isinstance(body, dict):
        return body
    if example.rule == "inference_payload_required":
        return body | {"name": f"bus.inference.{target.unique('conformance')}.request"}
    if example.rule == "correlation_spellings_agree":
        return under(namespace, body)
    return body


def _receipt_rule(target: EventsTarget) -> Rule[Any]:
    def check(envelope: dict[str, Any]) -> None:
        sent = under(target.namespace(), envelope)
        answer = target.publish(sent)
        answer.expect(202)
        check_receipt(answer.json_object(), sent)

    return Rule(
        "publish.receipt",
        "a valid envelope is answered 202 with a receipt echoing its name and correlation id",
        envelopes(),
        check,
        max_examples=40,
        precondition=target.needs_user,
    )


def _invalid_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: InvalidEnvelope) -> None:
        bus_error(target.publish(unstored(target, target.namespace(), example)), 400)

    return Rule(
        "publish.invalid_envelope_is_400",
        "an envelope breaking a rule is answered 400 bad_request",
        invalid_envelopes(),
        check,
        max_examples=40,
        precondition=target.needs_user,
    )


def oversized(name: str, extra: int) -> dict[str, Any]:
    """An envelope whose JSON is ``extra`` bytes over 1 MiB."""
    base = len(json.dumps({"name": name, "payload": ""}))
    return {"name": name, "payload": "x" * (MAX_ENVELOPE_BYTES + extra - base)}


def _too_large_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: tuple[int, str]) -> None:
        extra, route = example
        body = oversized(f"{target.namespace()}.big", extra)
        answer = target.publish(body) if route == "single" else target.publish_batch([body])
        bus_error(answer, 413)

    return Rule(
        "publish.over_1_mib_is_413",
        "an envelope over 1 MiB (alone, or in a batch) is answered 413 too_large",
        st.tuples(oversized_extras(), st.sampled_from(["single", "batch"])),
        check,
        max_examples=3,
        precondition=target.needs_user,
    )


def _batch_rule(target: EventsTarget) -> Rule[Any]:
    def check(example: BatchExample) -> None:
        namespace = target.namespace()
        valid = [under(namespace, envelope) for envelope in example.valid]
        if example.invalid is not None:
            bodies = list(valid)
            bodies.insert(example.at, unstored(target, namespace, example.invalid))
            bus_error(target.publish_batch(bodies), 400)
            stored = target.events({"name": f"{namespace}.*", "since": RECENT})
            if stored:
                names = [event.get("name") for event in stored]
                raise Violation(f"a refused batch stored some of its envelopes: {names}")
            return
        answer = target.publish_batch(valid)
        answer.expect(202)
        receipts = answer.json()
        if not isinstance(receipts, list) or len(receipts) != len(valid):
            raise Violation(f"not one receipt per envelope, in a list: {answer.excerpt()}")
        ids = [check_receipt(receipt, sent) for receipt, sent in zip(receipts, valid, strict=True)]
        stored = target.events({"name": f"{namespace}.*", "since": RECENT})
        if [event.get("id") for event in stored] != ids:
            got = [event.get("id") for event in stored]
            raise Violation(f"the stream gives ids {got}, not the receipts' {ids}")

    return Rule(
        "publish.batch_is_all_or_nothing",
        "a batch with an invalid envelope is a 400 storing none; a valid one is a 202 with"
        " one receipt per envelope, in order",
        batch_examples(),
        check,
        max_examples=25,
        precondition=target.needs_user,
    )


def _identity_rule(target: EventsTarget) -> Rule[Any]:
    def examples() -> st.SearchStrategy[tuple[Any, int]]:
        users = target.users
        subjects = {grant.subject for grant in users}
        claims = claimed_identities().filter(
            lambda claimed: not (isinstance(claimed, str) and claimed in subjects)
        )
        return st.tuples(claims, st.integers(min_value=0, max_value=max(len(users) - 1, 0)))

    def check(example: tuple[Any, int]) -> None:
        claimed, index = example
        grant = target.users[index]
        name = f"{target.namespace()}.who"
        body = {"name": name, "payload": None, "identity_id": claimed}
        target.published_id(body, token=grant.token)
        stored = target.events({"name": name, "since": RECENT})
        if len(stored) != 1:
            raise Violation(f"expected the one event published, the stream gave {len(stored)}")
        stamped = stored[0].get("identity_id")
        if canonical(stamped) != canonical(grant.subject):
            raise Violation(
                f"identity_id is {stamped!r}, not the token's sub {grant.subject!r}"
                f" (the envelope claimed {claimed!r})"
            )

    return Rule(
        "publish.identity_is_stamped_from_sub",
        "the stored identity_id is the publishing token's sub, whatever the envelope claims",
        st.deferred(examples),
        check,
        max_examples=10,
        precondition=target.needs_user,
    )


def publish_rules(target: EventsTarget) -> list[Rule[Any]]:
    return [
        _receipt_rule(target),
        _invalid_rule(target),
        _too_large_rule(target),
        _batch_rule(target),
        _identity_rule(target),
    ]
