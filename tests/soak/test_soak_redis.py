"""The soak's Redis phase (``make soak``): the same load on the Redis store, with a 30 s
outage in the middle.

``asm serve`` runs on a real ``redis-server`` of its own; stream workers send
completions through every fault mode of the fakes, publishers and a listener work the
Bus Events API. After a third of the load the redis-server is stopped for
``ASM_SOAK_REDIS_OUTAGE`` seconds (default 30) and started again over its data; the load
goes on throughout. At the end it checks: the server never exited; the endpoint traffic
saw no answer its fault modes do not call for, and went on completing during the
outage; publishes were refused with 503 and ``retry-after`` while Redis was away and
accepted again after; every acknowledged event stored and received once, in order. The
report is printed, and appended to ``$ASM_SOAK_REPORT`` if set.

``ASM_SOAK_REDIS_SECONDS`` (default 90) is how long the load runs in all.
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest
import trio

from tests.redis_server import RedisServer, redis_executable
from tests.soak.events_load import EventsLoad
from tests.soak.report import events_table, traffic_table
from tests.soak.test_soak import Served
from tests.soak.traffic import ModeTally, Target, Traffic

LOAD_SECONDS = float(os.environ.get("ASM_SOAK_REDIS_SECONDS", "90"))
OUTAGE_SECONDS = float(os.environ.get("ASM_SOAK_REDIS_OUTAGE", "30"))
WORKERS = 12
PUBLISHERS = 2


def _completed(tallies: dict[str, ModeTally]) -> int:
    return sum(tally.complete + tally.expected_errors for tally in tallies.values())


@pytest.mark.soak
@pytest.mark.timeout(LOAD_SECONDS + 240)
async def test_soak_on_redis_rides_out_a_30_s_outage(tmp_path: Path) -> None:
    seed = int(os.environ.get("ASM_SOAK_SEED", random.randrange(1 << 32)))
    redis = RedisServer(redis_executable(), tmp_path / "redis")
    redis.start()
    served, target = Served(tmp_path, redis.url), Target()
    traffic = Traffic(target, random.Random(seed))
    began = trio.current_time()
    try:
        base_url = await served.start()
        events = EventsLoad(target, await served.issue_token(), random.Random(seed + 1))
        target.aim(base_url, await served.ensure_leases())
        async with trio.open_nursery() as background:
            background.start_soon(events.listener)
            async with trio.open_nursery() as load:
                for _ in range(WORKERS):
                    load.start_soon(traffic.worker)
                for _ in range(PUBLISHERS):
                    load.start_soon(events.publisher)
                await trio.sleep((LOAD_SECONDS - OUTAGE_SECONDS) / 2)
                completed_before, acked_before = _completed(traffic.tallies), len(events.acked)
                await trio.to_thread.run_sync(redis.stop)
                await trio.sleep(OUTAGE_SECONDS)
                exited_during = served.process is None or served.process.poll() is not None
                completed_during = _completed(traffic.tallies) - completed_before
                acked_during = len(events.acked) - acked_before
                refused_during = events.refused
                await trio.to_thread.run_sync(redis.start)
                await trio.sleep((LOAD_SECONDS - OUTAGE_SECONDS) / 2)
                acked_after = len(events.acked) - acked_before - acked_during
                target.stopping = True
            await events.wait_caught_up()
            background.cancel_scope.cancel()
        result = await events.check()
        exit_code = await served.stop()
        log = served.log.read_text()
    finally:
        await served.close()
        redis.stop()
    wall = trio.current_time() - began
    tracebacks = log.count("Traceback")
    paused = len(re.findall(r"inference bridge paused", log))
    heading = (
        f"### Soak on Redis: {LOAD_SECONDS:g} s of load, {WORKERS} stream workers, "
        f"{PUBLISHERS} publishers, redis-server stopped for {OUTAGE_SECONDS:g} s midway; "
        f"seed {seed}; wall {wall:.0f} s"
    )
    outage = [
        "| server exited during the outage | completions during the outage "
        "| events acked during / after | publishes refused (503) | bridge pauses logged "
        "| tracebacks in server log | stop exit |",
        "|---|--:|--:|--:|--:|--:|--:|",
        f"| {'yes' if exited_during else 'no'} | {completed_during} "
        f"| {acked_during} / {acked_after} | {refused_during} | {paused} | {tracebacks} "
        f"| {exit_code} |",
    ]
    report = "\n".join(
        [heading, "", *traffic_table(traffic.tallies), "", *events_table(result), "", *outage, ""]
    )
    print("\n" + report)
    if os.environ.get("ASM_SOAK_REPORT"):
        with Path(os.environ["ASM_SOAK_REPORT"]).open("a") as out:
            out.write("\n" + report)

    tallies = traffic.tallies.values()
    assert not exited_during, "the server exited while Redis was away"
    assert not traffic.unexpected, traffic.unexpected
    assert all(t.unexpected == 0 and t.cut_by_kill == 0 for t in tallies)
    assert completed_during > 0, "no completion finished while Redis was away"
    assert refused_during > 0, "publishes were not refused during the outage"
    assert acked_after > 0, "publishing did not resume after the outage"
    assert not result.unexpected, result.unexpected
    assert result.lost == 0, "an acknowledged event is missing"
    assert result.listener_missed == 0, "the listener missed an acknowledged event"
    assert result.duplicates == 0 and result.out_of_order == 0
    assert exit_code == 0 and tracebacks == 0
