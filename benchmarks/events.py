"""The Bus Events API: publish throughput and publish → delivery latency per store, side
by side in one run with the request rate of a bare hypercorn hello-world (issue 5).

What is measured, all through real HTTP on 127.0.0.1, printed as one table:

- servers: each in a process of its own (``benchmarks._events_server``), so the client
  does not share the server's CPU: a bare hypercorn ASGI app answering any POST with a
  small JSON 202 (the baseline), and the real Events API app (``create_events_app``)
  under the same hypercorn settings over each store: ``memory``, ``sqlite`` (a file in
  a temporary directory) and ``redis`` (a redis-server started for the run with an
  append-only file fsynced on every write, as the tests run it; when there is none on
  PATH its row says it was skipped and why). The client is this process: Trio with h11
  (``benchmarks._events_http``), the least a client adds, so the server is what limits.
- acknowledged publishes/s: N kept-alive connections each POST ``count`` envelopes to
  ``/api/v1/events`` one after another; only 202s count. The hello-world takes the same
  requests from the same client at the same concurrency. Rounds alternate the servers
  (the order rotated each round) so the machine's noise hits them alike; each server's
  rate is the **median of its rounds**, and the ratio is that median over the
  hello-world's median.
- publish → delivery: a broadcast listener on ``/api/v1/events/stream`` (``since=0``)
  and a publisher pacing ``--rate`` events/s, each payload carrying
  ``time.monotonic_ns()`` taken as the request is written; the delay is the line's
  arrival at the listener's socket minus that stamp (CLOCK_MONOTONIC is shared across
  processes on Linux). ``--seconds`` per store, split over the rounds (again
  alternating); p50 and p99 of all its events.

Targets: memory ≥ 0.5× the hello-world rate; sqlite ≥ 1,000 acknowledged publishes/s;
p99 publish → delivery ≤ 25 ms at 200 events/s. Every process the run starts carries a
marker variable; any alive at the end is reported, killed, and fails the script. At
the defaults it takes about a minute::

    python -m benchmarks.events [--publishers 16] [--count 200] [--rounds 5] [--seconds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from benchmarks._endpoint_common import gone
from benchmarks._events_load import Delivered, Published, delivery_delays, publish_rate
from benchmarks._events_processes import Server, open_redis, open_servers, redis_server_path
from benchmarks._measure import quantile

HELLO = "hello-world"
TARGET_RATIO = 0.5  # memory's rate over the hello-world's
TARGET_SQLITE_RATE = 1000.0
TARGET_P99_MS = 25.0
TARGET_LATENCY_RATE = 200.0
WARM_UP_SECONDS = 0.2
LABELS = {
    HELLO: "hello-world (bare hypercorn ASGI app, 202)",
    "memory": "memory",
    "sqlite": "sqlite (file in a temp dir)",
    "redis": "redis (local redis-server, appendfsync always)",
}
REDIS_SKIPPED = "redis (skipped: redis-server is not on PATH)"
LEFT_ROW = "processes of this run left at the end"

Row = tuple[str, str, str, str, str, str]


@asynccontextmanager
async def _redis(home: Path, mark: str) -> AsyncIterator[str | None]:
    if redis_server_path() is None:
        yield None
        return
    async with open_redis(home / "redis", mark) as url:
        yield url


def _rotated(names: Sequence[str], by: int) -> list[str]:
    return [names[(index + by) % len(names)] for index in range(len(names))]


Results = tuple[dict[str, list[Published]], dict[str, list[Delivered]]]


async def _rounds(servers: dict[str, Server], args: argparse.Namespace) -> Results:
    """Every server's publish rounds, then every store's delivery rounds, alternating."""
    names = list(servers)
    stores = [name for name in names if name != HELLO]
    for name in names:  # warm-up: imports, caches, the first connections
        await publish_rate(servers[name], args.publishers, max(1, args.count // 10))
    for name in stores:
        await delivery_delays(servers[name], args.rate, WARM_UP_SECONDS)
    published: dict[str, list[Published]] = {name: [] for name in names}
    delivered: dict[str, list[Delivered]] = {name: [] for name in stores}
    for round_ in range(args.rounds):
        for name in _rotated(names, round_):
            published[name].append(await publish_rate(servers[name], args.publishers, args.count))
    seconds = args.seconds / args.rounds
    for round_ in range(args.rounds):
        for name in _rotated(stores, round_):
            delivered[name].append(await delivery_delays(servers[name], args.rate, seconds))
    return published, delivered


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _row(
    name: str, published: list[Published], delivered: list[Delivered] | None, hello_rate: float
) -> Row:
    rate = statistics.median(run.rate for run in published)
    ratio = rate / hello_rate
    verdicts: list[str] = []
    if name == "memory":
        verdicts.append(f"ratio >= {TARGET_RATIO:g}: {_met(ratio >= TARGET_RATIO)}")
    if name == "sqlite":
        ok = rate >= TARGET_SQLITE_RATE
        verdicts.append(f">= {TARGET_SQLITE_RATE:,.0f}/s: {_met(ok)}")
    refused = sum((run.refused for run in published), Counter[int]())
    p50 = p99 = ""
    if delivered is not None:
        delays = [delay for run in delivered for delay in run.delays_ms]
        refused += sum((run.refused for run in delivered), Counter[int]())
        lost = sum(run.lost for run in delivered)
        intervals = sum(run.sent - 1 for run in delivered)  # the pace is between sends
        achieved = intervals / sum(run.seconds for run in delivered)
        if delays:
            p50 = f"{quantile(delays, 0.5):.2f} ms"
            p99 = f"{quantile(delays, 0.99):.2f} ms"
            ok = quantile(delays, 0.99) <= TARGET_P99_MS and not lost
            verdicts.append(f"p99 <= {TARGET_P99_MS:g} ms: {_met(ok)}")
        verdicts.append(f"{len(delays)} delivered at {achieved:.0f}/s, {lost} lost")
    for status, count in sorted(refused.items()):
        verdicts.append(f"{count} publishes answered {status}, not 202")
    return (LABELS[name], f"{rate:,.0f}", f"{ratio:.2f}x", p50, p99, "; ".join(verdicts))


async def _measure(args: argparse.Namespace) -> tuple[list[Row], list[int]]:
    """The table's rows, and the pids of this run's processes still alive at the end."""
    mark = secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="asm-bench-events-") as directory:
        home = Path(directory)
        async with _redis(home, mark) as redis_url:
            stores = {HELLO: "hello", "memory": "memory", "sqlite": f"sqlite:{home}/events.db"}
            if redis_url is not None:
                stores["redis"] = redis_url
            async with open_servers(stores, home, mark) as servers:
                published, delivered = await _rounds(servers, args)
        left = await gone(mark, within=5)
    hello_rate = statistics.median(run.rate for run in published[HELLO])
    rows = [_row(name, published[name], delivered.get(name), hello_rate) for name in published]
    if redis_url is None:
        rows.append((REDIS_SKIPPED, "", "", "", "", "install Debian's redis-server"))
    rows.append((LEFT_ROW, str(len(left)), "", "", "", "target 0"))
    return rows, left


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--publishers", type=int, default=16, help="connections (default 16)")
    parser.add_argument("--count", type=int, default=200, help="POSTs per connection per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--seconds", type=float, default=5.0, help="paced seconds per store")
    parser.add_argument("--rate", type=float, default=TARGET_LATENCY_RATE, help="events/s paced")
    args = parser.parse_args(argv)
    rows, left = trio.run(_measure, args)
    print(
        f"events benchmark ({args.publishers} connections x {args.count} POSTs, median of"
        f" {args.rounds} rounds; delivery at {args.rate:g} events/s for {args.seconds:g} s"
        " per store; servers in their own processes, client in this one)"
    )
    print(
        "| store | acked publishes/s | ratio to hello-world | delivery p50 | delivery p99"
        " | verdicts vs targets |"
    )
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if left:
        for pid in left:  # carries this run's marker: started by this run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        sys.exit(f"events benchmark: processes left behind (killed): {left}")


if __name__ == "__main__":
    main()
