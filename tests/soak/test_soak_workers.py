"""The soak's workers phase: codex workers under load, crashes, hangs and walk-aways.

``asm serve`` runs codex in worker mode (two long-lived ``codex app-server`` fakes,
``tests/fakes/bin/codex-app-server-fake``) behind one lease. Stream and whole requests
come from :data:`CLIENTS` clients for ``ASM_SOAK_SECONDS / 2`` seconds; some ask the
fake to crash its process (``[[crash]]``), some to hang (``[[hang]]``), some clients go
away mid-stream, and once the test kills a worker itself with SIGKILL. At the end it
checks: every request answered as its kind calls for (a request in flight on a worker
that crashed fails ``crashed``, exactly those), workers were restarted and serve again,
the server logged no traceback, its memory came back, and nothing is left after the stop.
"""

from __future__ import annotations

import os
import random
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest
import trio

from tests.actors.sessions.sessions import FAKE_BIN
from tests.processes import alive, descendants, gone_within
from tests.soak.test_soak import GUARD_S, SOAK_SECONDS, Served, _rss

CLIENTS = 16
ANSWER = "Bonne nuit"
MODEL = "gpt-5"
CONFIG = f"""\
[sessions]
first_event_timeout = 2
idle_timeout = 2
run_timeout = 10
exit_grace = 0.5
terminate_grace = 0.5

[leases]
max_sessions = 64

[providers.codex]
mode = "worker"
workers = 2

[providers.codex.env]
FAKE_APP_SERVER_ANSWER = "{ANSWER}"
FAKE_APP_SERVER_CHUNKS = "4"
FAKE_APP_SERVER_DELAY_MS = "50"
"""
KINDS = ("ok",) * 30 + ("walk_away",) * 4 + ("hang",) * 4 + ("crash",)


def _workers(server: int) -> set[int]:
    """The live app-server fakes under the server."""
    found = set()
    for pid, row in descendants(server).items():
        if row.state == "Z":
            continue
        try:
            if b"fake_codex_app_server" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(pid)
        except OSError:
            continue
    return found


class Load:
    """Clients and the tallies of what each kind of request got."""

    def __init__(self, base_url: str, authorization: str, rng: random.Random) -> None:
        self.url = f"{base_url}/chat/completions"
        self.headers = {"authorization": authorization}
        self.rng = rng
        self.tally: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.stopping = False

    async def client(self) -> None:
        async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
            while not self.stopping:
                kind = self.rng.choice(KINDS)
                stream = kind == "walk_away" or self.rng.random() < 0.5
                await self._one(http, kind, stream)

    async def _one(self, http: httpx.AsyncClient, kind: str, stream: bool) -> None:
        trigger = {"crash": " [[crash]]", "hang": " [[hang]]"}.get(kind, "")
        body = {
            "model": MODEL,
            "stream": stream,
            "messages": [
                {"role": "system", "content": f"Translator {self.rng.randrange(1000)}."},
                {"role": "user", "content": f"Good night{trigger}"},
            ],
        }
        if not stream:
            answer = await http.post(self.url, json=body, headers=self.headers)
            text = answer.text
            outcome = self._whole(answer.status_code, answer)
        else:
            async with http.stream("POST", self.url, json=body, headers=self.headers) as answer:
                text = ""
                async for chunk in answer.aiter_text():
                    text += chunk
                    if kind == "walk_away" and '"content"' in text:
                        self.tally["walk_away"] += 1
                        return  # the client goes away mid-stream
                outcome = self._streamed(answer.status_code, text)
        self._judge(kind, outcome, text)

    def _whole(self, status: int, answer: httpx.Response) -> str:
        if status == 200:
            return "ok" if answer.json()["choices"][0]["message"]["content"] == ANSWER else "?"
        return {502: "crashed", 504: "timeout"}.get(status, f"http {status}")

    def _streamed(self, status: int, text: str) -> str:
        if status != 200:  # failed before the stream committed
            return {502: "crashed", 504: "timeout"}.get(status, f"http {status}")
        if '"error"' in text:  # in-band
            return "timeout" if "deadline" in text else "crashed" if "exited" in text else "?"
        return "ok" if text.rstrip().endswith("data: [DONE]") else "?"

    def _judge(self, kind: str, outcome: str, text: str) -> None:
        allowed = {
            "ok": {"ok", "crashed"},  # crashed: it shared a worker with a crash
            "walk_away": {"ok", "crashed"},
            "hang": {"timeout", "crashed"},
            "crash": {"crashed"},
        }[kind]
        self.tally[f"{kind}:{outcome}"] += 1
        if outcome not in allowed:
            self.unexpected.append(f"{kind} got {outcome}: {text[:300]}")


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS + 240)
async def test_soak_workers_under_crashes_hangs_walk_aways_and_a_kill_9(tmp_path: Path) -> None:
    seed = int(os.environ.get("ASM_SOAK_SEED", random.randrange(1 << 32)))
    served = Served(tmp_path)
    served.config.write_text(CONFIG)
    served.env["ASM_CODEX_BIN"] = str(FAKE_BIN / "codex-app-server-fake")
    seen_workers: set[int] = set()
    killed: int | None = None
    try:
        base_url = await served.start()
        admin = (served.state / "admin.token").read_text().strip()
        async with httpx.AsyncClient(trust_env=False, timeout=GUARD_S) as http:
            created = await http.post(
                f"{base_url}/api/v1/endpoints",
                headers={"authorization": f"Bearer {admin}"},
                json={"request": {"model_preference": {"provider": "codex", "id": MODEL}}},
            )
        assert created.status_code == 201, created.text
        endpoint = created.json()["endpoint"]
        load = Load(endpoint["base_url"], endpoint["headers"]["authorization"], random.Random(seed))
        rss_first = _rss(served.pid)
        async with trio.open_nursery() as nursery:
            for _ in range(CLIENTS):
                nursery.start_soon(load.client)
            for _ in range(int(SOAK_SECONDS / 2)):
                await trio.sleep(1)
                seen_workers |= _workers(served.pid)
                if killed is None and len(seen_workers) >= 3 and (live := _workers(served.pid)):
                    killed = min(live)
                    os.kill(killed, signal.SIGKILL)  # a worker killed from outside, once
            load.stopping = True
        with trio.move_on_after(GUARD_S):
            while len(_workers(served.pid)) != 2:  # noqa: ASYNC110 - other processes' state
                await trio.sleep(0.1)
        final_workers = _workers(served.pid)
        rss_end = _rss(served.pid)
        exit_code = await served.stop()
        assert await gone_within(sorted(final_workers | seen_workers), 10.0)
        log = served.log.read_text()
    finally:
        await served.close()
    report = ", ".join(f"{key} {count}" for key, count in sorted(load.tally.items()))
    print(f"\n### Soak, workers phase: seed {seed}; {report}; workers seen {len(seen_workers)}")
    assert not load.unexpected, load.unexpected[:5]
    assert load.tally["ok:ok"] > 0 and load.tally["crash:crashed"] > 0
    assert load.tally["hang:timeout"] > 0 and load.tally["walk_away"] > 0
    assert len(seen_workers) > 3, "crashed workers were restarted"
    assert len(final_workers) == 2, "the pool is whole again after the load"
    assert exit_code == 0 and not [pid for pid in final_workers if alive(pid)]
    assert log.count("Traceback") == 0, "the server logged a traceback (see serve.log)"
    assert rss_end <= rss_first * 1.5 + 64 * 2**20, "the server's memory did not come back"
    assert killed is not None and killed in seen_workers, "a worker was killed from outside"
