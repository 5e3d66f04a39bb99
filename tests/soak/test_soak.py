"""The bounded soak test (``make soak``; never part of ``make test``).

``asm serve`` runs as a subprocess on sqlite (on Redis with an outage:
:mod:`tests.soak.test_soak_redis`), the fake CLIs first on PATH and short
deadlines in its ``asm.toml``. Stream workers send completions through every fault mode
of the fakes (:mod:`tests.soak.traffic`), sometimes going away mid-request, while
publishers and a listener work the Bus Events API (:mod:`tests.soak.events_load`).
Halfway through, the server is killed with SIGKILL and restarted on the same port and
state directory; the load goes on. At the end it checks: every acknowledged event
stored and received once, in order; no 5xx the faults do not call for; the killed
server's CLI processes swept by the restart; nothing left after the final stop; the
restarted server's memory back near where it started. The report
(:mod:`tests.soak.report`) is printed, and written to ``$ASM_SOAK_REPORT`` if set.

``ASM_SOAK_SECONDS`` (default 120) is how long the load runs in all; ``ASM_SOAK_SEED``
replays a run's random choices (the seed is in the report's heading).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest
import trio

from benchmarks._measure import status_kib
from contracts.providers import DRIVERS, PROFILES
from tests.actors.sessions.sessions import children_environ, fake_environ
from tests.fakes.fake_cli import DEFAULT_MODELS, PROVIDERS
from tests.processes import alive, descendants, gone_within, process_table
from tests.soak.events_load import EventsLoad
from tests.soak.report import ProcessResult, render
from tests.soak.traffic import Lease, Target, Traffic

ASM = str(Path(sys.executable).parent / "asm")
ROOT = Path(__file__).resolve().parents[2]
SOAK_SECONDS = float(os.environ.get("ASM_SOAK_SECONDS", "120"))
WORKERS = 24
PUBLISHERS = 2
WARM_UP_S = 5.0  # of the restarted server, before its first memory sample
SETTLE_S = 2.0  # after the load, before the last memory sample
GUARD_S = 60.0  # hang guard of every wait on the server
POOL_SIZE = 1  # ``asm serve``'s warm pool per lease (SPEC §4.5)
# Once the load stops, a pool whose CLI gives up waiting on stdin (claude) retires its
# parked session unused and parks again only on the next request (actors/sessions/pool.py).
# Parked at the end: one per lease of a CLI that parks and never gives up on stdin.
PARKED_AT_SETTLE = sum(
    POOL_SIZE for p in PROVIDERS if DRIVERS[p].parks and PROFILES[p].stdin_wait_seconds is None
)

# First-event and idle deadlines of 2 s end the silent modes quickly; the keep-alive
# period is longer, so every stream commits on its first decisive event.
CONFIG = """\
[sessions]
first_event_timeout = 2
idle_timeout = 2
run_timeout = 10
exit_grace = 0.5
terminate_grace = 0.5

[leases]
max_sessions = 64

[server]
keepalive_seconds = 15

# The fake CLIs' fault modes are spawned runs; codex workers have a phase of their own
# (tests/soak/test_soak_workers.py).
[providers.codex]
mode = "spawn"
"""


def _rss(pid: int) -> int:
    """The resident set of ``pid`` in bytes."""
    kib = status_kib(pid, "VmRSS")
    if not kib:
        raise AssertionError(f"no VmRSS for {pid}")
    return kib * 1024


def _reap_adopted(pids: set[int] | None = None) -> int:
    """Reap dead orphans re-parented to this test runner (conftest makes it a subreaper),
    ``pids`` only or all; how many. Only init would reap them outside a test run."""
    me, reaped = os.getpid(), 0
    for pid, (ppid, state, _) in process_table().items():
        if ppid == me and state == "Z" and (pids is None or pid in pids):
            with contextlib.suppress(ChildProcessError):
                reaped += os.waitpid(pid, os.WNOHANG)[0] == pid
    return reaped


class Served:
    """The ``asm serve`` under test: one state directory, one server process at a time."""

    def __init__(self, tmp_path: Path, store: str | None = None) -> None:
        self.state = tmp_path / "state"
        self.store = store or f"sqlite:{self.state / 'events.db'}"
        self.config = tmp_path / "asm.toml"
        self.config.write_text(CONFIG)
        self.log = tmp_path / "serve.log"
        (tmp_path / "tmp").mkdir()
        self.env = {**children_environ(), **fake_environ(tmp_path), "TMPDIR": str(tmp_path / "tmp")}
        self.env.pop("CLAUDECODE", None)
        self.process: trio.Process | None = None
        self.base_url = ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def start(self, port: int = 0) -> str:
        """Start a server (on ``port``; 0: a free one); its base URL once it serves."""
        argv = [
            ASM,
            "serve",
            "--bind",
            f"127.0.0.1:{port}",
            "--state-dir",
            str(self.state),
            "--store",
            self.store,
            "--config",
            str(self.config),
        ]
        with self.log.open("ab") as log:
            self.process = await trio.lowlevel.open_process(
                argv, stdout=log, stderr=log, env=self.env, cwd=ROOT
            )
        with trio.fail_after(GUARD_S):
            while True:
                assert self.process.poll() is None, self.log.read_text()[-3000:]
                with contextlib.suppress(OSError, ValueError):
                    info = json.loads((self.state / "server.json").read_text())
                    if info["pid"] == self.process.pid:
                        self.base_url = str(info["base_url"])
                        return self.base_url
                await trio.sleep(0.05)

    async def ensure_leases(self) -> dict[str, Lease]:
        """One lease per provider, through the admin API."""
        admin = (self.state / "admin.token").read_text().strip()
        leases = {}
        async with httpx.AsyncClient(trust_env=False, timeout=GUARD_S) as http:
            for provider in PROVIDERS:
                model = DEFAULT_MODELS[provider]
                request = {"model_preference": {"provider": provider, "id": model}, "stream": True}
                created = await http.post(
                    f"{self.base_url}/api/v1/endpoints",
                    headers={"authorization": f"Bearer {admin}"},
                    json={"request": request},
                )
                assert created.status_code == 201, created.text
                endpoint = created.json()["endpoint"]
                authorization = endpoint["headers"]["authorization"]
                leases[provider] = Lease(provider, model, endpoint["base_url"], authorization)
        return leases

    async def issue_token(self) -> str:
        scope = "events:send events:listen"
        argv = [
            ASM,
            "token",
            "issue",
            "--subject",
            "soak",
            "--scope",
            scope,
            "--ttl",
            "1h",
            "--state-dir",
            str(self.state),
        ]
        result = await trio.run_process(argv, capture_stdout=True, env=self.env)
        return result.stdout.decode().strip()

    async def kill(self) -> set[int]:
        """SIGKILL the server; the pids its tree had at that moment (itself excluded)."""
        assert self.process is not None
        tree = set(descendants(self.process.pid))
        self.process.kill()
        await self.process.wait()
        return tree

    async def stop(self) -> int:
        """SIGTERM the server and wait for it; its exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        with trio.fail_after(GUARD_S):
            return await self.process.wait()

    async def close(self) -> None:
        """However the test ends, no server outlives it."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            await self.process.wait()


class Memory:
    """The peak RSS of the current server while ``sampling``."""

    def __init__(self, served: Served) -> None:
        self.served = served
        self.sampling = False
        self.peak = 0

    async def sample(self) -> None:
        while True:
            if self.sampling:
                with contextlib.suppress(OSError):
                    self.peak = max(self.peak, _rss(self.served.pid))
            await trio.sleep(0.25)


def _clis(served: Served) -> tuple[int, int]:
    """(live CLI processes, unreaped zombies) under the server."""
    tree = {pid: row.state for pid, row in descendants(served.pid).items()}
    return sum(state != "Z" for state in tree.values()), sum(
        state == "Z" for state in tree.values()
    )


async def _settle(served: Served, parked: int) -> tuple[int, int]:
    """Wait until only the warm pools' sessions are left (or the hang guard passes), then
    :data:`SETTLE_S` more; :func:`_clis` after that."""
    with trio.move_on_after(GUARD_S):
        while _clis(served) != (parked, 0):  # noqa: ASYNC110 - other processes' state
            await trio.sleep(0.1)
    await trio.sleep(SETTLE_S)
    return _clis(served)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 240)
async def test_soak_every_fault_mode_concurrent_events_and_a_kill_9(tmp_path: Path) -> None:
    seed = int(os.environ.get("ASM_SOAK_SEED", random.randrange(1 << 32)))
    began, before = trio.current_time(), set(descendants(os.getpid()))
    served, target = Served(tmp_path), Target()
    traffic, memory = Traffic(target, random.Random(seed)), Memory(served)
    try:
        base_url = await served.start()
        port = httpx.URL(base_url).port
        assert port is not None
        events = EventsLoad(target, await served.issue_token(), random.Random(seed + 1))
        target.aim(base_url, await served.ensure_leases())
        rss_first = _rss(served.pid)
        async with trio.open_nursery() as background:
            background.start_soon(events.listener)
            background.start_soon(memory.sample)
            async with trio.open_nursery() as load:
                for _ in range(WORKERS):
                    load.start_soon(traffic.worker)
                for _ in range(PUBLISHERS):
                    load.start_soon(events.publisher)
                await trio.sleep(SOAK_SECONDS / 2)
                target.pause()
                killed = await served.kill()
                assert await served.start(port) == base_url
                # The restart swept the ledger before it served: SIGKILL is asynchronous.
                await gone_within(sorted(killed), 10.0)
                alive_after_restart = sum(alive(pid) for pid in killed)
                adopted = _reap_adopted(killed)
                target.aim(base_url, await served.ensure_leases())
                await trio.sleep(WARM_UP_S)
                rss_start = _rss(served.pid)
                memory.peak, memory.sampling = rss_start, True
                await trio.sleep(max(SOAK_SECONDS / 2 - WARM_UP_S, 0.0))
                target.stopping = True
            await events.wait_caught_up()
            background.cancel_scope.cancel()
        clis, zombies = await _settle(served, PARKED_AT_SETTLE)
        rss_end = _rss(served.pid)
        memory.peak = max(memory.peak, rss_end)
        result = await events.check()
        exit_code = await served.stop()
        await gone_within(sorted(set(descendants(os.getpid())) - before), 10.0)
        left = sorted(
            pid
            for pid, row in descendants(os.getpid()).items()
            if pid not in before and row.state != "Z"
        )
        adopted += _reap_adopted()
        log = served.log.read_text()
        tracebacks = log.count("Traceback")
        swept = sum(int(n) for n in re.findall(r"killed (\d+) processes a previous run", log))
        # The killed server's session work root is removed by the restart's sweep.
        stale_dirs = len(list((tmp_path / "tmp").glob("asm-sessions-*")))
    finally:
        await served.close()
    processes = ProcessResult(
        killed_tree=len(killed),
        swept=swept,
        alive_after_restart=alive_after_restart,
        clis_at_settle=clis,
        parked=PARKED_AT_SETTLE,
        zombies_at_settle=zombies,
        left_after_stop=len(left),
        stop_exit_code=exit_code,
        adopted_reaped=adopted,
        stale_session_dirs=stale_dirs,
        log_tracebacks=tracebacks,
        rss_first=rss_first,
        rss_start=rss_start,
        rss_peak=memory.peak,
        rss_end=rss_end,
    )
    wall = trio.current_time() - began
    heading = (
        f"### Soak: {SOAK_SECONDS:g} s of load, {WORKERS} stream workers, {PUBLISHERS} "
        f"publishers, kill -9 at {SOAK_SECONDS / 2:g} s; seed {seed}; wall {wall:.0f} s"
    )
    report = render(traffic.tallies, result, processes, heading)
    print("\n" + report)
    if os.environ.get("ASM_SOAK_REPORT"):
        Path(os.environ["ASM_SOAK_REPORT"]).write_text(report)

    tallies = traffic.tallies.values()
    assert not traffic.unexpected, traffic.unexpected
    assert all(t.unexpected == 0 for t in tallies)
    assert all(t.requests > 0 for t in tallies), "every fault mode was exercised"
    assert sum(t.disconnects for t in tallies) > 0, "clients went away mid-request"
    assert not result.unexpected, result.unexpected
    assert result.acked > 0 and result.reconnects > 0
    assert result.refused == 0, "a publish was refused: the store was never away"
    assert result.lost == 0, "an acknowledged event is missing after the restart"
    assert result.listener_missed == 0, "the listener missed an acknowledged event"
    assert result.duplicates == 0 and result.out_of_order == 0
    assert processes.killed_tree > 0, "the killed server had CLI processes to sweep"
    assert processes.alive_after_restart == 0, "the restart left the killed server's CLIs"
    assert (clis, zombies) == (processes.parked, 0), "sessions outlived their requests"
    assert exit_code == 0 and not left, f"processes left after the stop: {left}"
    assert stale_dirs == 0, "a session work root outlived its server"
    assert tracebacks == 0, "the server logged a traceback (see serve.log)"
    assert rss_end <= processes.rss_limit, "the server's memory did not come back"
