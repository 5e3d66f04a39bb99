"""``check_endpoint`` passes our endpoint app and fails each planted bug, naming its rule.

The app is the real one (``create_endpoint_app``) served by real hypercorn on loopback
over a FakeGateway lease; a planted bug is that same app behind one rewrite.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from tests.fakes.fake_gateway import ADMIN_TOKEN, MODEL, FakeGateway, serve_on_loopback
from tests.fakes.planted_bugs import PlantedBug
from tests.fakes.planted_endpoint import LEASE_SCRIPT, endpoint_bugs
from transport.conformance import check_endpoint
from transport.conformance._harness import Budget, Outcome
from transport.endpoint import create_endpoint_app

BUG_NAMES = sorted(endpoint_bugs("token"))


async def served_endpoint(nursery: trio.Nursery, bug: str | None = None) -> tuple[str, str]:
    """Our endpoint app (with ``bug`` planted, if named) on loopback: base URL and token."""
    gateway = FakeGateway(nursery)
    lease = gateway.add_lease(LEASE_SCRIPT, model=MODEL)
    app: Any = create_endpoint_app(gateway, admin_token=ADMIN_TOKEN, keepalive_seconds=5)
    if bug is not None:
        planted = endpoint_bugs(lease.token)[bug]
        app = PlantedBug(app, planted.name, **planted.rewrites)
    origin = await serve_on_loopback(nursery, app)
    return f"{origin}/leases/{lease.lease_ref}/v1", lease.token


async def _run(nursery: trio.Nursery, bug: str | None, budget: Budget) -> tuple[list[Outcome], str]:
    base_url, token = await served_endpoint(nursery, bug)
    outcomes = await trio.to_thread.run_sync(check_endpoint, base_url, token, budget)
    return outcomes, token


async def test_our_endpoint_app_passes_every_endpoint_rule(nursery: trio.Nursery) -> None:
    outcomes, token = await _run(nursery, None, Budget())
    failed = {o.rule: (o.counterexample, o.message) for o in outcomes if o.status != "pass"}
    assert failed == {}
    assert len(outcomes) >= 20
    assert all(outcome.tried >= 1 for outcome in outcomes)
    assert token not in repr(outcomes)


@pytest.mark.parametrize("bug", BUG_NAMES)
async def test_each_planted_endpoint_bug_fails_the_rule_it_breaks(
    nursery: trio.Nursery, bug: str
) -> None:
    outcomes, token = await _run(nursery, bug, Budget(scale=0.5))
    by_rule = {outcome.rule: outcome for outcome in outcomes}
    planted = endpoint_bugs(token)[bug]
    broken = by_rule[planted.breaks]
    assert broken.status == "fail"
    assert broken.counterexample is not None and broken.message
    assert token not in repr(outcomes)
    # The rules are specific: a bug breaks its rule, and only what follows from it.
    failing = {outcome.rule for outcome in outcomes if outcome.status == "fail"}
    assert planted.breaks in failing
    assert failing <= {planted.breaks, *planted.also_breaks}
